"""Where a result came from: code version, command, library versions, machine and data.

Every config, results, summary and comparison file carries `provenance(...)` under the key
"provenance", and every Markdown report ends with `footer(...)`. Numpy-only (no JAX import):
library versions are read from the installed distributions.
"""

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

LIBRARIES = {"jax": ("jax", "jaxlib", "flax", "optax"), "torch": ("torch",),
             "sklearn": ("scikit-learn", "joblib", "threadpoolctl")}
COMMON = ("fmnist-jax", "numpy", "scipy")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> str | None:
    """The checkout's commit (with "-dirty" when files differ from it), or None outside git."""
    source = Path(__file__).resolve().parent.parent

    def git(*args) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def command_line() -> str:
    """The command as typed: `fmnist ...` also for `python -m fmnist_jax ...`."""
    program = Path(sys.argv[0]).name
    if program == "__main__.py":
        program = "python -m " + Path(sys.argv[0]).parent.name
    return " ".join([program, *sys.argv[1:]])


def provenance(frameworks=("jax",), device: str | None = None, data: dict | None = None) -> dict:
    """The provenance record: package version and commit, time, command line, the versions of
    the libraries the `frameworks` ("jax", "torch", "sklearn") use, machine, and `data` (the
    data source and the checksums of its files, see `fmnist_jax.data.describe_source`)."""
    names = [*COMMON, *(name for framework in frameworks for name in LIBRARIES[framework])]
    return {"package": _version("fmnist-jax"), "git_commit": git_commit(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": command_line(),
            "python": platform.python_version(),
            "versions": {name: _version(name) for name in names},
            "platform": platform.platform(), "cpu": cpu_name(), "device": device,
            "data": data}


def footer(record: dict) -> str:
    """The provenance record as Markdown lines for the end of a report."""
    versions = ", ".join(f"{name} {version}" for name, version in record["versions"].items()
                         if version and name != "fmnist-jax")
    lines = ["", "---", f"Made by `{record['command']}` on {record['date']}, fmnist-jax "
             f"{record['package']} (commit {record['git_commit'] or 'unknown'}); {versions}; "
             f"Python {record['python']} on {record['platform']}, CPU {record['cpu']}"
             + (f", device {record['device']}" if record.get("device") else "") + "."]
    if record.get("data"):
        files = ", ".join(f"{name} sha256 {digest[:12]}…"
                          for name, digest in record["data"]["sha256"].items())
        lines.append(f"Data: {record['data']['source']} from {record['data']['directory']} "
                     f"({files}).")
    return "\n".join(lines) + "\n"
