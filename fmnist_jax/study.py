"""The study, reproduced end to end: every (model, framework) cell and, optionally, the sklearn
sweep, resumable, then one report beside the published figures.

    from fmnist_jax.study import Study, run_study
    cells = run_study(Study(models=("simple",), seeds=8), "results/study-cpu")

Each cell is an ordinary run directory `<out>/<framework>-<model>/`, or, with `seeds_per_run`,
a directory of run directories of that many seeds each (`seed-3/`, `seeds-4-5/`): a cell too
long for one sitting (a CNN seed takes hours on a CPU) then grows piece by piece, and its
results are those of every finished piece in it. The sweep is `<out>/sklearn-sweep/`. Running
the same study into the same directory again skips the finished cells and pieces, resumes an
interrupted one from its checkpoint and starts the rest; `report.md`, `report.json` and the
plots (`fmnist_jax.reporting.study_report`) are written after every cell.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

from fmnist_jax import api, protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.sources import describe_source
from fmnist_jax.errors import ConfigError
from fmnist_jax.reporting import rundir

FRAMEWORKS = ("jax", "torch")
SWEEP_DIR = "sklearn-sweep"


@dataclass(frozen=True)
class Study:
    """What to run: models x frameworks, each `seeds` seeds by `train`'s protocol (its model is
    set per cell), and the sweep configurations `sweep` (none by default)."""

    models: tuple[str, ...] = protocol.MODEL_NAMES
    frameworks: tuple[str, ...] = FRAMEWORKS
    seeds: int = 8
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: tuple[str, ...] = ()
    sweep_subset: int | None = None
    sweep_max_iter: int | None = None
    seeds_per_run: int | None = None  # None: each cell is one run directory of all its seeds

    def validate(self) -> "Study":
        unknown = [m for m in self.models if m not in protocol.MODEL_NAMES]
        unknown += [f for f in self.frameworks if f not in FRAMEWORKS]
        if unknown or not self.models or not self.frameworks:
            raise ConfigError(f"unknown or missing models/frameworks {unknown}: models are "
                              f"{', '.join(protocol.MODEL_NAMES)}; frameworks {', '.join(FRAMEWORKS)}")
        if self.seeds_per_run is not None and self.seeds_per_run <= 0:
            raise ConfigError(f"--seeds-per-run must be positive, got {self.seeds_per_run}")
        self.cell_config("simple").validate()
        return self

    def cell_config(self, model: str) -> TrainConfig:
        return replace(self.train, model=model, seeds=self.seeds)


def quick() -> Study:
    """The whole pipeline at toy scale: both frameworks, the two MLPs, 2 seeds of 2 epochs on
    2000 training images, and two sweep configurations for 5 iterations on 1000 images."""
    return Study(models=("simple", "big"), seeds=2, train=TrainConfig(max_epochs=2, train_subset=2000, checkpoint_every=1),
                 sweep=("base", "solver-adam"), sweep_subset=1000, sweep_max_iter=5)


def cell_dir(out: Path, framework: str, model: str) -> Path:
    return Path(out) / f"{framework}-{model}"


def piece_dir(cell: Path, first_seed: int, seeds: int) -> Path:
    """The run directory of a cell's seeds first_seed, ..., first_seed + seeds - 1."""
    last = first_seed + seeds - 1
    return Path(cell) / (f"seed-{first_seed}" if seeds == 1 else f"seeds-{first_seed}-{last}")


def finished_pieces(cell: Path) -> list[Path]:
    return sorted((p for p in Path(cell).glob("seed*") if (p / "results.json").is_file()),
                  key=lambda p: int(p.name.split("-")[1]))


def read_cell(cell: Path) -> dict | None:
    """A cell's results: its run directory's, or those of the finished pieces in it merged
    (`merge_pieces`); None when nothing in it has finished."""
    if (Path(cell) / "results.json").is_file():
        return rundir.read_results(cell)
    pieces = finished_pieces(cell)
    return merge_pieces([rundir.read_results(p) for p in pieces]) if pieces else None


def merge_pieces(parts: list[dict]) -> dict:
    """One cell's results from run directories of some of its seeds each: the runs of all,
    the devices and wall times of each (under "pieces", with their provenance). The pieces
    must share the framework, model and protocol settings, and no run may come twice."""
    first = parts[0]
    for part in parts[1:]:
        for key in ("framework", "model", "eval_loss", "protocol"):
            if part.get(key) != first.get(key):
                raise ConfigError(f"the run directories of one {first['framework']} "
                                  f"{first['model']} cell differ in {key}; a cell merges only "
                                  "runs of the same settings")
    runs = sorted((run for part in parts for run in part["runs"]),
                  key=lambda run: (run["learning_rate"], run["seed"]))
    keys = [(run["seed"], run["learning_rate"]) for run in runs]
    if len(set(keys)) < len(keys):
        raise ConfigError(f"a seed appears in two run directories of the {first['framework']} "
                          f"{first['model']} cell; remove one")
    pieces = [{"seeds": [run["seed"] for run in part["runs"]], "device": part["device"],
               "wall_time_s": part["wall_time_s"], "provenance": part.get("provenance")}
              for part in parts]
    merged = {key: value for key, value in first.items() if key != "provenance"}
    return {**merged, "device": ", ".join(dict.fromkeys(part["device"] for part in parts)),
            "wall_time_s": sum(part["wall_time_s"] for part in parts), "runs": runs,
            "pieces": pieces}


def run_study(study: Study, out, data_dir=None, log=print, split=None) -> dict:
    """Runs (or resumes) every cell of `study` into `out`, writing the report after each;
    returns {"cells": {(framework, model): results}, "sweep": sweep rows or None, "report":
    the Markdown}, with the cells finished there by earlier studies too (a study directory
    accumulates cells). `split` replaces the data (tests, notebooks)."""
    from fmnist_jax.reporting.study_report import write_report

    study.validate()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = None if split else describe_source(study.train.source, data_dir)
    split = split or api.load_split(study.cell_config(study.models[0]), data_dir)
    cells = finished_cells(out)
    sweep_rows = _finished_sweep(out)
    for model in study.models:
        for framework in study.frameworks:
            cells[(framework, model)] = _run_cell(study, out, framework, model, split, data_dir, log)
            write_report(out, study, _ordered(cells), sweep_rows, source)
    if study.sweep:
        sweep_rows = _run_sweep(study, out, data_dir, log)
    text = write_report(out, study, _ordered(cells), sweep_rows, source)
    return {"cells": _ordered(cells), "sweep": sweep_rows, "report": text}


def finished_cells(out: Path) -> dict:
    """The finished cells of a study directory: {(framework, model): results}."""
    cells = {(framework, model): read_cell(cell_dir(out, framework, model))
             for model in protocol.MODEL_NAMES for framework in FRAMEWORKS}
    return {key: results for key, results in cells.items() if results is not None}


def _ordered(cells: dict) -> dict:
    return {key: cells[key] for model in protocol.MODEL_NAMES for framework in FRAMEWORKS
            if (key := (framework, model)) in cells}


def _finished_sweep(out: Path):
    from fmnist_jax.mlp.sweep import RESULTS_CSV, read_results

    path = Path(out) / SWEEP_DIR / RESULTS_CSV
    return read_results(path) if path.is_file() else None


def _run_cell(study: Study, out: Path, framework: str, model: str, split, data_dir, log) -> dict:
    """A cell's results: trained, resumed or read, whole or piece by piece."""
    path = cell_dir(out, framework, model)
    config = study.cell_config(model)
    if study.seeds_per_run is None or (path / "results.json").is_file():
        if finished_pieces(path):
            raise ConfigError(f"{path} holds run directories of some seeds each; grow it with "
                              "--seeds-per-run N")
        return _run_piece(config, path, framework, split, data_dir, log)
    last = config.seed + config.seeds
    for first in range(config.seed, last, study.seeds_per_run):
        seeds = min(study.seeds_per_run, last - first)
        _run_piece(replace(config, seed=first, seeds=seeds), piece_dir(path, first, seeds),
                   framework, split, data_dir, log)
    return read_cell(path)


def _run_piece(config: TrainConfig, path: Path, framework: str, split, data_dir, log) -> dict:
    """A run directory's results: read when finished, resumed when interrupted, else trained."""
    if (path / "results.json").is_file():
        log(f"study: {path} is finished; using its results")
        return rundir.read_results(path)
    if (path / "config.json").is_file():
        _, recorded, _ = rundir.interrupted_run(path)
        if replace(recorded, progress=config.progress) != config:
            raise ConfigError(f"{path} holds an interrupted run of other settings; use the same "
                              "study settings or another --out")
        log(f"study: resuming {path}")
        return api.resume(path, data_dir, log=log).results
    log(f"study: training {framework} {config.model} (seeds {config.seed}-"
        f"{config.seed + config.seeds - 1}) into {path}")
    trainer = api.train_jax if framework == "jax" else api.train_torch
    return trainer(config, split, out=path, data_dir=data_dir, log=log).results


def _run_sweep(study: Study, out: Path, data_dir, log) -> list[dict]:
    from fmnist_jax.mlp import sweep as sklearn_sweep
    from fmnist_jax.reporting import sweep_report

    configs = sklearn_sweep.select(",".join(study.sweep))
    data = sklearn_sweep.load_data(data_dir, study.sweep_subset)
    path = out / SWEEP_DIR
    rows = sklearn_sweep.run_sweep(configs, data, path, seeds=(study.train.seed,),
                                   max_iter=study.sweep_max_iter, log=log)
    sweep_report.write_summary(path, rows, data=describe_source("raw", data_dir))
    return rows
