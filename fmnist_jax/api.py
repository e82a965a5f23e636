"""The Python API behind every command: load the data, train (JAX or the PyTorch reference),
resume, re-evaluate. The CLI only parses arguments and prints.

    from fmnist_jax import TrainConfig, train_jax
    run = train_jax(TrainConfig(model="simple", seeds=4, max_epochs=3), data_dir="data/")
    run.summary["markdown"], run.results["runs"][0]["test_accuracy"]

Your own model and data go through the same loop: `train_jax(config, split, model=module)` for a
`flax.linen.Module` that maps NHWC images to logits, `train_torch(config, split, model=factory)`
for a callable that returns a fresh `torch.nn.Module` (NCHW images). `split` is a `Split` of
your arrays; `config.model` is then only the run's label.

A run with `out` writes a run directory (see `fmnist_jax.reporting.rundir`) and saves its whole state
there every `config.checkpoint_every` epochs; `resume(out)` continues it after an interruption.
"""

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.sources import describe_source, load_source
from fmnist_jax.data.split import Split, checked_split, split_record, study_split
from fmnist_jax.errors import ConfigError, require_torch
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


def train_jax(config: TrainConfig, split: Split | None = None, *, model=None, out=None,
              data_dir=None, log=print) -> Run:
    """Trains every run of `config` in JAX (vmapped, chunked, sharded over the devices); with
    `out`, writes a run directory there (process 0 of several). `model`: your own
    `flax.linen.Module` (NHWC images to logits) trained on your `split` instead of
    `config.model`, which is then the run's label (by default the module's class name)."""
    return _train("jax", config, split, out, data_dir, log, resuming=False, model=model)


def train_torch(config: TrainConfig, split: Split | None = None, *, model=None, out=None,
                data_dir=None, log=print) -> Run:
    """Trains every run of `config` with the PyTorch reference, one after the other; with
    `out`, writes a run directory there. `model`: a zero-argument callable returning a fresh
    `torch.nn.Module` (NCHW images to logits) per seed, trained on your `split`."""
    return _train("torch", config, split, out, data_dir, log, resuming=False, model=model)


def resume(run_dir, data_dir=None, log=print, *, model=None, split: Split | None = None) -> Run:
    """Continues the interrupted run directory `run_dir` (either framework) from its last
    checkpoint, with the data directory it recorded unless `data_dir` is given. A run of your
    own model needs the same `model` and `split` again."""
    run_dir, config, recorded = rundir.interrupted_run(run_dir)
    framework = recorded["framework"]
    split = _own_again(run_dir, recorded, model, split)
    data_dir = data_dir or rundir.recorded_data_dir(recorded)
    return _train(framework, config, split, run_dir, data_dir, log, resuming=True, model=model)


def evaluate(run_dir, data_dir=None, *, model=None, split: Split | None = None) -> list[dict]:
    """Re-tests a finished run directory's saved parameters (either framework) on the test set:
    per run, the correct images now and as results.json recorded them, and the loss now. A run
    of your own model needs the same `model` and `split` again."""
    run_dir = Path(run_dir)
    for name in ("config.json", "results.json"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir / name}: missing; is {run_dir} a finished run directory?")
    recorded = rundir.read_json(run_dir / "config.json")
    config = TrainConfig.from_json(recorded)
    results = rundir.read_json(run_dir / "results.json")
    split = _own_again(run_dir, recorded, model, split) or study_split(load_source(
        config.source, data_dir or rundir.recorded_data_dir(recorded), progress=False))
    if recorded["framework"] == "jax":
        metrics = _evaluate_jax(run_dir, config, split, model)
    else:
        metrics = _evaluate_torch(run_dir, config, split, results, model)
    return [{"seed": run["seed"], "learning_rate": run["learning_rate"],
             "correct": round(sum(row[i] for i, row in enumerate(confusion))),
             "recorded_correct": sum(row[i] for i, row in enumerate(run["confusion_matrix"])),
             "total": len(split.y_test), "loss": loss, "recorded_loss": run["test_loss"]}
            for run, (confusion, loss) in zip(results["runs"], metrics)]


def _evaluate_jax(run_dir: Path, config: TrainConfig, split: Split, model) -> list:
    import jax

    from fmnist_jax.nn.checkpoint import CHECKPOINT, load_params
    from fmnist_jax.nn.network import own_network
    from fmnist_jax.nn.train import eval_set, make_evaluate

    if not (run_dir / CHECKPOINT).is_file():
        raise ConfigError(f"{run_dir / CHECKPOINT}: missing; the run directory is incomplete")
    test = eval_set(split.x_test, split.y_test, config.eval_batch_size, config.eval_loss)
    network = own_network(model, split, config.conv) if model is not None else None
    metrics = jax.device_get(jax.jit(jax.vmap(make_evaluate(config, network), in_axes=(0, None)))(
        load_params(run_dir), test))
    return [(metrics.confusion[i].tolist(), float(metrics.loss[i]))
            for i in range(len(metrics.loss))]


def _evaluate_torch(run_dir: Path, config: TrainConfig, split: Split, results: dict,
                    model_factory) -> list:
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
        model = model_factory() if model_factory else build_model(config.model)
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


def _train(framework: str, config: TrainConfig, split, out, data_dir, log, resuming: bool,
           model=None) -> Run:
    own = model is not None
    if own and split is None:
        raise ConfigError("your own model needs your data: pass split=Split(x_train, y_train, "
                          "x_val, y_val, x_test, y_test)")
    if framework == "torch":
        require_torch()
    if own:
        split = checked_split(split)
        network, own_record = _own_model(framework, model, split, config.conv)
        if config.model in protocol.MODEL_NAMES:  # never labelled as one of the study's
            config = replace(config, model=own_record["module"].rsplit(".", 1)[-1])
    config.validate(own_model=own)
    out = Path(out) if out is not None else None
    if out is not None and not resuming:
        rundir.check_new(out)
    if split is None:
        split = load_split(config, data_dir)
    else:
        config.validate(n_train=len(split.y_train), own_model=own)
    data_record = own_record["data"] if own else describe_source(config.source, data_dir) if out else None
    writer = _is_writer(framework)
    checkpoints = out / CHECKPOINTS if out is not None and config.checkpoint_every else None
    if out is not None and writer:
        (checkpoints or out).mkdir(parents=True, exist_ok=True)
        if not resuming:
            rundir.write_config(out, config, framework,
                                provenance((framework,), data=data_record),
                                own_model=own_record if own else None)
    if framework == "jax":
        from fmnist_jax.nn.runner import train_runs

        results, params = train_runs(config, split, log=log, checkpoint_dir=checkpoints,
                                     network=network if own else None)
    else:
        from torch_ref.train import train_runs

        results, params = train_runs(config, split, log=log, checkpoint_dir=checkpoints,
                                     model_factory=model)
    record = provenance((framework,), device=results["device"], data=data_record)
    settings = comparable.protocol_settings(config, len(split.y_train),
                                            config.model if own else None)
    results = {**results, "eval_loss": config.eval_loss, "protocol": settings,
               **({"own_model": own_record} if own else {}), "provenance": record}
    summary = report.summarize(results)
    if out is not None and writer:
        rundir.write_run(out, results)
        _save_params(framework, out, params)
        report.write_summary(out, results, summary)
        if checkpoints:
            shutil.rmtree(checkpoints)
    return Run(config, results, params, summary, out)


def _own_model(framework: str, model, split: Split, conv: str = "auto"):
    """A user's model checked against their split: the JAX Network (None for torch) and what
    the run records of both (class, parameter count, classes, the arrays' shapes and sha256)."""
    if framework == "jax":
        from fmnist_jax.nn.network import describe, own_network

        network = own_network(model, split, conv)
        record = describe(network, split)
    else:
        from torch_ref.train import describe_own

        network, record = None, {**describe_own(model, split), "data": split_record(split)}
    labels = max(int(split.y_train.max()), int(split.y_val.max()), int(split.y_test.max())) + 1
    if record["classes"] < labels:
        raise ConfigError(f"the model gives {record['classes']} logits, but the split's labels "
                          f"run to {labels - 1}")
    return network, record


def _own_again(run_dir: Path, recorded: dict, model, split) -> Split | None:
    """For a run of a user's model: their split again, checked to be the arrays the run
    recorded (a one-line ConfigError when the model or the split is missing or differs)."""
    own = recorded.get("own_model")
    if own is None:
        if model is not None:
            raise ConfigError(f"{run_dir} trained the study's {recorded['model']}; "
                              "call it without model=")
        return None
    if model is None or split is None:
        raise ConfigError(f"{run_dir} trained your own model {own['module']}: pass the same "
                          "model= and split= again, from Python (resume or evaluate(run_dir, "
                          "model=..., split=...))")
    split = checked_split(split)
    if split_record(split)["sha256"] != own["data"]["sha256"]:
        raise ConfigError(f"{run_dir}: the split passed is not the one this run trained on "
                          "(its arrays' sha256 differ from config.json's); pass the same arrays")
    _, again = _own_model(recorded["framework"], model, split)
    if (again["module"], again["params"]) != (own["module"], own["params"]):
        raise ConfigError(f"{run_dir} trained {own['module']} ({own['params']:,} parameters), "
                          f"not {again['module']} ({again['params']:,}); pass the same model")
    return split


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
