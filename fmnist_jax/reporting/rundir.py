"""The run-directory format shared by `fmnist train` and the PyTorch reference (no JAX).

- config.json: `TrainConfig.to_json()` plus {"framework": "jax" | "torch", "provenance"
  (`fmnist_jax.reporting.provenance`: versions, command, machine, data directory and checksums)}.
- results.json: {"framework", "model", "device", "wall_time_s" (training wall time of all runs
  together, compilation excluded), "compile_time_s" (null for torch), "eval_loss" (the loss
  definition, `protocol.EVAL_LOSSES`), "provenance", "runs": [one entry per seed and learning
  rate: {"seed", "learning_rate", "test_accuracy" (correct images / all, from the confusion
  matrix), "test_loss", "confusion_matrix" (10x10 counts, rows true, columns predicted),
  "epochs" (epochs run), "stopped" ("patience" | "max_epochs" | "diverged"), "best_val_loss",
  "best_epoch" (1-based), "time_s" (the run's own wall time; wall/K for a vmapped program)}]}.
  Non-finite numbers (a diverged run's loss) are written as null: every file is strict JSON.
- history.csv: seed, learning_rate, epoch, train_loss, val_loss, val_accuracy. Runs handed to
  `write_run` carry "history": {"train_loss": [...], "val_loss": [...], "val_accuracy": [...]}.
- a checkpoint: checkpoint.msgpack (JAX, flax serialization) or checkpoint.pt (torch state
  dicts, loaded with weights_only=True).
- summary.json / summary.csv / summary.md and PNG plots from `fmnist_jax.reporting.run_report.write_summary`.

Every file is written to a temp file and renamed, so an interrupted run never leaves a partial
file.
"""

import csv
import io
import json
import math
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


def json_safe(obj):
    """`obj` with NaN and infinities as None, so that it is strict JSON."""
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path, obj) -> None:
    """Strict, indented JSON (NaN written as null) with lists of numbers on one line each."""
    text = json.dumps(json_safe(obj), indent=2, allow_nan=False)
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


def write_config(out: Path, config, framework: str, provenance: dict,
                 own_model: dict | None = None) -> None:
    """config.json: the TrainConfig, the framework and the provenance (data directory too), and
    for a user's own model what it and its data were (`own_model`)."""
    write_json(Path(out) / "config.json",
               {**config.to_json(), "framework": framework, "provenance": provenance,
                **({"own_model": own_model} if own_model else {})})


def write_run(out: Path, results: dict) -> None:
    """Writes results.json and history.csv; `results["runs"]` carry histories."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "history.csv", history_csv(results["runs"]))
    slim = {**results, "runs": [{k: v for k, v in run.items() if k != "history"}
                                for run in results["runs"]]}
    write_json(out / "results.json", slim)


def read_results(run_dir: Path) -> dict:
    """A finished run directory's results.json, its runs carrying their histories again."""
    run_dir = Path(run_dir)
    results = read_json(run_dir / "results.json")
    histories: dict = {}
    for row in read_history(run_dir):
        entry = histories.setdefault((int(row["seed"]), float(row["learning_rate"])),
                                     {name: [] for name in HISTORY_FIELDS[3:]})
        for name in HISTORY_FIELDS[3:]:
            entry[name].append(float(row[name]))
    for run in results["runs"]:
        run["history"] = histories.get((run["seed"], run["learning_rate"]),
                                       {name: [] for name in HISTORY_FIELDS[3:]})
    return results


def read_history(run_dir: Path) -> list[dict]:
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def timestamped(name: str) -> Path:
    """runs/<name>-<time>: where a command writes when not told."""
    from datetime import datetime

    return Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def default_run_dir(framework: str, model: str) -> Path:
    return timestamped(f"{framework}-{model}")


def check_new(path: Path) -> None:
    """Refuses (one-line ConfigError) a directory that already holds a run, finished or not."""
    from fmnist_jax.errors import ConfigError

    path = Path(path)
    if (path / "results.json").exists():
        raise ConfigError(f"{path} already holds a finished run; choose another --out")
    if (path / "config.json").exists():
        raise ConfigError(f"{path} holds an interrupted run; continue it with --resume {path} "
                          "or choose another --out")


def interrupted_run(path: Path):
    """The interrupted run at `path`: its path, TrainConfig and config.json, or a one-line
    ConfigError."""
    from fmnist_jax.config import TrainConfig
    from fmnist_jax.errors import ConfigError

    path = Path(path)
    if (path / "results.json").exists():
        raise ConfigError(f"{path} is already finished; nothing to resume")
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path} holds no interrupted run (no config.json)")
    recorded = read_json(path / "config.json")
    return path, TrainConfig.from_json(recorded), recorded


def resuming_line(checkpoint_dir: Path, epoch: int, runs: range, total: int) -> str:
    """What a training that found saved progress says first: where it resumes, from which epoch
    (the checkpoint's; 0 when only finished runs were saved), and which of the runs when not all."""
    runs = range(runs.start, min(runs.stop, total))
    which = f"runs {runs.start + 1}-{runs.stop}" if len(runs) > 1 else f"run {runs.stop}"
    return f"resuming {checkpoint_dir} at epoch {epoch}" + (
        f" ({which} of {total})" if len(runs) < total else "")


def recorded_data_dir(recorded: dict) -> str | None:
    """The data directory a run's config.json recorded, if it still exists."""
    data = (recorded.get("provenance") or {}).get("data") or {}
    directory = data.get("directory")
    return directory if directory and Path(directory).is_dir() else None
