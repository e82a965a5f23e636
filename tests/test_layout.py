"""The package's layout: subpackages import each other without a circle, counting the imports
made inside functions too (a lazy import that closes a circle is still one)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fmnist_jax", "torch_ref")


def module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports: `from a.b import c` counts `a.b.c` when c is a
    module, else `a.b`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module in modules:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return found


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (circle := visit(nxt)):
                return circle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (circle := visit(node)):
            return circle
    return None


def test_no_import_circle():
    modules = module_names()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert find_circle(graph) is None, " -> ".join(find_circle(graph))


def test_the_circle_finder_sees_a_circle():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None


def test_subpackages_hold_the_parts():
    top = {path.stem for path in (ROOT / "fmnist_jax").glob("*.py")}
    assert top == {"__init__", "__main__", "api", "config", "crosscheck", "errors", "protocol",
                   "study"}
    for package in ("data", "nn", "mlp", "reporting", "cli"):
        init = ROOT / "fmnist_jax" / package / "__init__.py"
        tree = ast.parse(init.read_text())
        assert not [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))], \
            f"{init} imports (a package's __init__ would join its modules' imports into circles)"


def test_torch_ref_is_imported_by_the_api_only_and_imports_no_jax():
    modules = module_names()
    importers = {name for name, path in modules.items() if not name.startswith("torch_ref")
                 and any(m.startswith("torch_ref") for m in imports_of(path, modules))}
    assert importers == {"fmnist_jax.api", "fmnist_jax.crosscheck"}
    for name, path in modules.items():
        if name.startswith("torch_ref"):
            text = path.read_text()
            assert "import jax" not in text and "from jax" not in text and "flax" not in text, name


def test_every_project_import_names_a_module_that_exists():
    """Lazy imports inside functions too: a moved module leaves none behind pointing nowhere."""
    modules = module_names()
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and \
                    node.module.split(".")[0] in PACKAGES:
                assert node.module in modules, f"{name} imports {node.module}, which does not exist"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] in PACKAGES:
                        assert alias.name in modules, f"{name} imports {alias.name}"
