"""The run-directory format shared by `fmnist train` and the PyTorch reference (no JAX).

- config.json: `TrainConfig.to_json()` plus {"framework": "jax" | "torch"}.
- results.json: {"framework", "model", "device", "wall_time_s" (training wall time of all runs
  together, compilation excluded), "compile_time_s" (null for torch), "runs": [one entry per
  seed and learning rate: {"seed", "learning_rate", "test_accuracy", "test_loss" (per-sample
  mean cross-entropy), "confusion_matrix" (10x10, rows true, columns predicted), "epochs"
  (epochs run), "stopped" ("patience" | "max_epochs" | "diverged"), "best_val_loss",
  "best_epoch" (1-based), "time_s" (the run's own wall time; wall/K for a vmapped program)}]}.
- history.csv: seed, learning_rate, epoch, train_loss, val_loss, val_accuracy. Runs handed to
  `write_run` carry "history": {"train_loss": [...], "val_loss": [...], "val_accuracy": [...]}.
- a checkpoint: checkpoint.msgpack (JAX, flax serialization) or checkpoint.pt (torch state
  dicts, loaded with weights_only=True).
- summary.json / summary.csv / summary.md and PNG plots from `fmnist_jax.report.write_summary`.

Every file is written to a temp file and renamed, so an interrupted run never leaves a partial
file.
"""

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)
HISTORY_FIELDS = ("seed", "learning_rate", "epoch", "train_loss", "val_loss", "val_accuracy")


def write_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to `path` through a temp file in the same directory and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, obj) -> None:
    """Indented JSON with lists of numbers (matrix rows) kept on one line each."""
    text = json.dumps(obj, indent=2)
    text = re.sub(r"\[[\d\s,.eE+-]*\]", lambda m: re.sub(r"\s+", " ", m.group())
                  .replace("[ ", "[").replace(" ]", "]"), text)
    write_atomic(path, (text + "\n").encode())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def history_csv(runs: list[dict]) -> bytes:
    """One row per seed and epoch from each run's `history` (lists of per-epoch values)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HISTORY_FIELDS)
    for run in runs:
        history = run["history"]
        for epoch, values in enumerate(zip(*(history[f] for f in HISTORY_FIELDS[3:])), start=1):
            writer.writerow([run["seed"], run["learning_rate"], epoch, *values])
    return text.getvalue().encode()


def write_run(out: Path, config: dict, results: dict) -> None:
    """Writes config.json, results.json and history.csv; `results["runs"]` carry histories."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config)
    write_atomic(out / "history.csv", history_csv(results["runs"]))
    slim = {**results, "runs": [{k: v for k, v in run.items() if k != "history"}
                                for run in results["runs"]]}
    write_json(out / "results.json", slim)


def read_history(run_dir: Path) -> list[dict]:
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def new_run_dir(out: str | None, framework: str, model: str) -> Path:
    """The run directory to write: `out`, or runs/<framework>-<model>-<time>. Refuses (with a
    one-line ConfigError) a directory that already holds a run, finished or interrupted."""
    from datetime import datetime

    from fmnist_jax.config import ConfigError

    path = Path(out) if out else Path("runs") / f"{framework}-{model}-{datetime.now():%Y%m%d-%H%M%S}"
    if (path / "results.json").exists():
        raise ConfigError(f"{path} already holds a finished run; choose another --out")
    if (path / "config.json").exists():
        raise ConfigError(f"{path} holds an interrupted run; continue it with --resume {path} "
                          "or choose another --out")
    return path


def resume_run_dir(path: Path, framework: str):
    """The interrupted run at `path` and its TrainConfig, or a one-line ConfigError."""
    from fmnist_jax.config import ConfigError, TrainConfig

    path = Path(path)
    if (path / "results.json").exists():
        raise ConfigError(f"{path} is already finished; nothing to resume")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path} holds no interrupted run (no config.json)")
    config = read_json(path / "config.json")
    if config.get("framework") != framework:
        raise ConfigError(f"{path} is a {config.get('framework')} run; resume it with that framework")
    return path, TrainConfig.from_json(config)
