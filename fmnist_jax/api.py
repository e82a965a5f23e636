"""The Python API behind every command: load the data, train (JAX or the PyTorch reference),
resume, re-evaluate. The CLI only parses arguments and prints.

    from fmnist_jax import TrainConfig, train_jax
    run = train_jax(TrainConfig(model="simple", seeds=4, max_epochs=3), data_dir="data/")
    run.summary["markdown"], run.results["runs"][0]["test_accuracy"]

A run with `out` writes a run directory (see `fmnist_jax.reporting.rundir`) and saves its whole state
there every `config.checkpoint_every` epochs; `resume(out)` continues it after an interruption.
"""

import shutil
from pathlib import Path
from typing import Any, NamedTuple

from fmnist_jax.config import TrainConfig
from fmnist_jax.data.sources import describe_source, load_source
from fmnist_jax.data.split import Split, study_split
from fmnist_jax.errors import ConfigError
from fmnist_jax.reporting import comparable, rundir
from fmnist_jax.reporting import run_report as report
from fmnist_jax.reporting.provenance import provenance

CHECKPOINTS = "checkpoints"


class Run(NamedTuple):
    """A finished training run: its config, results (runs with histories), tested parameters
    (JAX: a pytree stacked over the runs; torch: state_dicts by run), summary and directory."""

    config: TrainConfig
    results: dict
    params: Any
    summary: dict
    run_dir: Path | None


def load_split(config: TrainConfig, data_dir=None) -> Split:
    """The study's split of `config.source`, cut to `config.train_subset` training images."""
    split = study_split(
        load_source(config.source, data_dir, config.progress))
    if config.train_subset:
        if config.train_subset > len(split.y_train):
            raise ConfigError(f"--train-subset {config.train_subset} exceeds the "
                              f"{len(split.y_train)} training images")
        split = split._replace(x_train=split.x_train[:config.train_subset],
                               y_train=split.y_train[:config.train_subset])
    config.validate(n_train=len(split.y_train))
    return split


def train_jax(config: TrainConfig, split: Split | None = None, *, out=None, data_dir=None,
          log=print) -> Run:
    """Trains every run of `config` in JAX (vmapped, chunked, sharded over the devices); with
    `out`, writes a run directory there (process 0 of several)."""
    return _train("jax", config, split, out, data_dir, log, resuming=False)


def train_torch(config: TrainConfig, split: Split | None = None, *, out=None, data_dir=None,
                log=print) -> Run:
    """Trains every run of `config` with the PyTorch reference, one after the other; with
    `out`, writes a run directory there."""
    return _train("torch", config, split, out, data_dir, log, resuming=False)


def resume(run_dir, data_dir=None, log=print) -> Run:
    """Continues the interrupted run directory `run_dir` (either framework) from its last
    checkpoint, with the data directory it recorded unless `data_dir` is given."""
    run_dir, config, recorded = rundir.interrupted_run(run_dir)
    framework = recorded["framework"]
    data_dir = data_dir or rundir.recorded_data_dir(recorded)
    return _train(framework, config, None, run_dir, data_dir, log, resuming=True)


def evaluate(run_dir, data_dir=None) -> list[dict]:
    """Re-tests a finished run directory's saved parameters (either framework) on the test set:
    per run, the correct images now and as results.json recorded them, and the loss now."""
    run_dir = Path(run_dir)
    for name in ("config.json", "results.json"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir / name}: missing; is {run_dir} a finished run directory?")
    recorded = rundir.read_json(run_dir / "config.json")
    config = TrainConfig.from_json(recorded)
    results = rundir.read_json(run_dir / "results.json")
    split = study_split(load_source(
        config.source, data_dir or rundir.recorded_data_dir(recorded), progress=False))
    if recorded["framework"] == "jax":
        metrics = _evaluate_jax(run_dir, config, split)
    else:
        metrics = _evaluate_torch(run_dir, config, split, results)
    return [{"seed": run["seed"], "learning_rate": run["learning_rate"],
             "correct": round(sum(row[i] for i, row in enumerate(confusion))),
             "recorded_correct": sum(row[i] for i, row in enumerate(run["confusion_matrix"])),
             "total": len(split.y_test), "loss": loss, "recorded_loss": run["test_loss"]}
            for run, (confusion, loss) in zip(results["runs"], metrics)]


def _evaluate_jax(run_dir: Path, config: TrainConfig, split: Split) -> list:
    import jax

    from fmnist_jax.nn.checkpoint import CHECKPOINT, load_params
    from fmnist_jax.nn.train import eval_set, make_evaluate

    if not (run_dir / CHECKPOINT).is_file():
        raise ConfigError(f"{run_dir / CHECKPOINT}: missing; the run directory is incomplete")
    test = eval_set(split.x_test, split.y_test, config.eval_batch_size, config.eval_loss)
    metrics = jax.device_get(jax.jit(jax.vmap(make_evaluate(config), in_axes=(0, None)))(
        load_params(run_dir), test))
    return [(metrics.confusion[i].tolist(), float(metrics.loss[i]))
            for i in range(len(metrics.loss))]


def _evaluate_torch(run_dir: Path, config: TrainConfig, split: Split, results: dict) -> list:
    from torch_ref import require_torch

    require_torch()
    import torch
    from torch.utils.data import DataLoader

    from torch_ref.models import build_model
    from torch_ref.train import dataset, load_checkpoint
    from torch_ref.train import evaluate as evaluate_torch

    if not (run_dir / "checkpoint.pt").is_file():
        raise ConfigError(f"{run_dir / 'checkpoint.pt'}: missing; the run directory is incomplete")
    states, device = load_checkpoint(run_dir), torch.device("cpu")
    loader = DataLoader(dataset(split.x_test, split.y_test), config.eval_batch_size)
    metrics = []
    for run in results["runs"]:
        model = build_model(config.model)
        model.load_state_dict(states[f"seed-{run['seed']}-lr-{run['learning_rate']:g}"])
        test = evaluate_torch(model, loader, device, config.precision == "bf16", config.eval_loss)
        metrics.append((test["confusion_matrix"], test["loss"]))
    return metrics


def init_hosts(coordinator: str, num_processes: int, process_id: int) -> None:
    """Joins a multi-process JAX run (before any other JAX call): the runs axis is then
    sharded over every process's devices, and process 0 writes the run directory."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def _train(framework: str, config: TrainConfig, split, out, data_dir, log, resuming: bool) -> Run:
    config.validate()
    if framework == "torch":
        from torch_ref import require_torch

        require_torch()
    out = Path(out) if out is not None else None
    if out is not None and not resuming:
        rundir.check_new(out)
    if split is None:
        split = load_split(config, data_dir)
    else:
        config.validate(n_train=len(split.y_train))
    data_record = describe_source(config.source, data_dir) if out else None
    writer = _is_writer(framework)
    checkpoints = out / CHECKPOINTS if out is not None and config.checkpoint_every else None
    if out is not None and writer:
        (checkpoints or out).mkdir(parents=True, exist_ok=True)
        if not resuming:
            rundir.write_config(out, config, framework,
                                provenance((framework,), data=data_record))
    if framework == "jax":
        from fmnist_jax.nn.runner import train_runs

        results, params = train_runs(config, split, log=log, checkpoint_dir=checkpoints)
    else:
        from torch_ref.train import train_runs

        results, params = train_runs(config, split, checkpoint_dir=checkpoints, log=log)
    record = provenance((framework,), device=results["device"], data=data_record)
    results = {**results, "eval_loss": config.eval_loss,
               "protocol": comparable.protocol_settings(config, len(split.y_train)),
               "provenance": record}
    summary = report.summarize(results)
    if out is not None and writer:
        rundir.write_run(out, results)
        _save_params(framework, out, params)
        report.write_summary(out, results, summary)
        if checkpoints:
            shutil.rmtree(checkpoints)
    return Run(config, results, params, summary, out)


def _is_writer(framework: str) -> bool:
    """Only process 0 of a multi-process JAX run writes files."""
    if framework != "jax":
        return True
    import jax

    return jax.process_index() == 0


def _save_params(framework: str, out: Path, params) -> None:
    if framework == "jax":
        from fmnist_jax.nn.checkpoint import save_params

        save_params(out, params)
    else:
        from torch_ref.train import save_checkpoint

        save_checkpoint(out, params)
