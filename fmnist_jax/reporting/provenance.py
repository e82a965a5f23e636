"""Where a result came from: code version, command, library versions, machine and data.

Every config, results, summary and comparison file carries `provenance(...)` under the key
"provenance", and every Markdown report ends with `footer(...)`. Numpy-only (no JAX import):
library versions are read from the installed distributions.
"""

import os
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
    """The checkout's commit (with "-dirty" when its code differs from it), or None outside git."""
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
    # results/ holds outputs, which a study rewrites as it goes: only code makes a checkout dirty
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return commit + ("-dirty" if changed else "")


# the x86 extensions that decide which matmul kernels XLA, oneDNN and OpenBLAS run
VECTOR_EXTENSIONS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                     "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile",
                     "amx_bf16", "neon", "asimd", "sve", "bf16")


def _amd_generation(family: int, model: int) -> str | None:
    """The Zen generation of an AMD family/model pair (the EPYC model name alone does not
    tell: Zen 3, 4 and 5 machines all report "AMD EPYC" here, with twofold matmul peaks)."""
    if family == 26:
        return "Zen 5"
    if family == 25:
        zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
        return "Zen 4" if zen4 else "Zen 3"
    if family == 23:
        return "Zen 2" if model >= 0x30 else "Zen / Zen+"
    return None


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU as precisely as the kernels care: model name, vendor family/model/stepping (and
    the AMD Zen generation), the vector extensions and the core count; e.g. "AMD EPYC (Zen 3;
    AuthenticAMD family 25 model 1 stepping 1; avx avx2 fma f16c; 2 cores)"."""
    try:
        cpuinfo = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    first = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        first.setdefault(key.strip(), value.strip())
    name = first.get("model name") or platform.processor() or platform.machine()
    details = []
    if first.get("cpu family", "").isdigit() and first.get("model", "").isdigit():
        family, model = int(first["cpu family"]), int(first["model"])
        vendor = first.get("vendor_id", "")
        generation = _amd_generation(family, model) if vendor == "AuthenticAMD" else None
        details += [generation] if generation else []
        details.append(f"{vendor} family {family} model {model} stepping "
                       f"{first.get('stepping', '?')}".strip())
    flags = set((first.get("flags") or first.get("Features") or "").split())
    details.append(" ".join(ext for ext in VECTOR_EXTENSIONS if ext in flags) or "no vector "
                   "extensions listed")
    details.append(f"{os.cpu_count()} cores")
    return f"{name} ({'; '.join(details)})"


def command_line() -> str:
    """The command as typed: `fmnist ...` also for `python -m fmnist_jax ...`."""
    program = Path(sys.argv[0]).name
    if program == "__main__.py":
        program = "python -m " + Path(sys.argv[0]).parent.name
    return " ".join([program, *sys.argv[1:]])


def provenance(frameworks=("jax",), device: str | None = None, data: dict | None = None) -> dict:
    """The provenance record: package version and commit, time, command line, the versions of
    the libraries the `frameworks` ("jax", "torch", "sklearn") use, machine, and `data` (the
    data source and the checksums of its files, see `fmnist_jax.data.sources.describe_source`)."""
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
        where = f" from {record['data']['directory']}" if "directory" in record["data"] else ""
        lines.append(f"Data: {record['data']['source']}{where} ({files}).")
    return "\n".join(lines) + "\n"
