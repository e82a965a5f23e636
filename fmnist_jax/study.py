"""The study, reproduced end to end: every (model, framework) cell and, optionally, the sklearn
sweep, resumable, then one report beside the published figures.

    from fmnist_jax.study import Study, run_study
    cells = run_study(Study(models=("simple",), seeds=8), "results/study-cpu")

Each cell is an ordinary run directory `<out>/<framework>-<model>/`; the sweep is
`<out>/sklearn-sweep/`. Running the same study into the same directory again skips the finished
cells, resumes an interrupted one from its checkpoint and starts the rest; `report.md`,
`report.json` and the plots (`fmnist_jax.study_report`) are written after every cell.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

from fmnist_jax import api, rundir
from fmnist_jax.config import ConfigError, TrainConfig
from fmnist_jax.data import describe_source

FRAMEWORKS = ("jax", "torch")
MODELS = ("simple", "big", "cnn")
SWEEP_DIR = "sklearn-sweep"


@dataclass(frozen=True)
class Study:
    """What to run: models x frameworks, each `seeds` seeds by `train`'s protocol (its model is
    set per cell), and the sweep configurations `sweep` (none by default)."""

    models: tuple[str, ...] = MODELS
    frameworks: tuple[str, ...] = FRAMEWORKS
    seeds: int = 8
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: tuple[str, ...] = ()
    sweep_subset: int | None = None
    sweep_max_iter: int | None = None

    def validate(self) -> "Study":
        unknown = [m for m in self.models if m not in MODELS]
        unknown += [f for f in self.frameworks if f not in FRAMEWORKS]
        if unknown or not self.models or not self.frameworks:
            raise ConfigError(f"unknown or missing models/frameworks {unknown}: models are "
                              f"{', '.join(MODELS)}; frameworks {', '.join(FRAMEWORKS)}")
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


def run_study(study: Study, out, data_dir=None, log=print, split=None) -> dict:
    """Runs (or resumes) every cell of `study` into `out`, writing the report after each;
    returns {"cells": {(framework, model): results}, "sweep": sweep rows or None, "report":
    the Markdown}, with the cells finished there by earlier studies too (a study directory
    accumulates cells). `split` replaces the data (tests, notebooks)."""
    from fmnist_jax.study_report import write_report

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
    return {(framework, model): rundir.read_results(cell_dir(out, framework, model))
            for model in MODELS for framework in FRAMEWORKS
            if (cell_dir(out, framework, model) / "results.json").is_file()}


def _ordered(cells: dict) -> dict:
    return {key: cells[key] for model in MODELS for framework in FRAMEWORKS
            if (key := (framework, model)) in cells}


def _finished_sweep(out: Path):
    from fmnist_jax.sklearn_sweep import RESULTS_CSV, read_results

    path = Path(out) / SWEEP_DIR / RESULTS_CSV
    return read_results(path) if path.is_file() else None


def _run_cell(study: Study, out: Path, framework: str, model: str, split, data_dir, log) -> dict:
    """A cell's results: read when finished, resumed when interrupted, else trained."""
    path = cell_dir(out, framework, model)
    config = study.cell_config(model)
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
    log(f"study: training {framework} {model} ({config.seeds} seeds) into {path}")
    trainer = api.train_jax if framework == "jax" else api.train_torch
    return trainer(config, split, out=path, data_dir=data_dir, log=log).results


def _run_sweep(study: Study, out: Path, data_dir, log) -> list[dict]:
    from fmnist_jax import sklearn_sweep, sweep_report

    configs = sklearn_sweep.select(",".join(study.sweep))
    data = sklearn_sweep.load_data(data_dir, study.sweep_subset)
    path = out / SWEEP_DIR
    rows = sklearn_sweep.run_sweep(configs, data, path, seeds=(study.train.seed,),
                                   max_iter=study.sweep_max_iter, log=log)
    sweep_report.write_summary(path, rows, data=describe_source("raw", data_dir))
    return rows
