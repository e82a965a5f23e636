"""Many runs (seeds x learning rates) of the training protocol in one compiled program.

The runs are vmapped, cut into chunks of `seed_chunk` runs when memory requires it, and their
axis is sharded over a `jax.sharding` mesh of all devices, so 8 GPUs train 8 runs in the time
of one. A chunk is padded to a multiple of the devices (5 runs on 4 GPUs: 8, 3 of them copies
of the last run, dropped at the end) and the last chunk to the chunk size, so every device is
busy and one program serves every chunk. Over several
hosts (after `jax.distributed.initialize`) the mesh spans every process's devices and the
results are gathered to each process.

With a checkpoint directory, the compiled `advance` runs `checkpoint_every` epochs at a time
and the whole training state is saved between calls; a resumed run makes the same calls on the
same state, so it ends bit-identical to an uninterrupted one. Without, one call trains to the end.
"""

import math
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.multihost_utils import process_allgather
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import Split
from fmnist_jax.errors import ConfigError
from fmnist_jax.nn.checkpoint import load_tree, save_tree
from fmnist_jax.nn.layers import conv_impl
from fmnist_jax.nn.network import Network, memory_per_run_bytes, study_network
from fmnist_jax.nn.train import device_data, eval_set, final_params, make_evaluate, make_train
from fmnist_jax.reporting.progress import EpochTable
from fmnist_jax.reporting.rundir import resuming_line


class TrainedRuns(NamedTuple):
    """What `train_runs` returns: the results and the tested parameters of every run."""

    results: dict  # the run directory's results.json, with histories
    params: dict  # final parameters stacked over the runs axis


def run_grid(config: TrainConfig) -> list[tuple[int, float]]:
    """Every (seed, learning rate) pair, learning rate major."""
    seeds = range(config.seed, config.seed + config.seeds)
    return [(seed, lr) for lr in config.learning_rates for seed in seeds]


def _mesh_for(chunk: int) -> Mesh:
    """A 1-D mesh over every device, or over `chunk` of them when the chunk has fewer runs."""
    devices = jax.devices()
    return Mesh(np.array(devices[:min(chunk, len(devices))]), ("runs",))


def describe_device(used: int | None = None) -> str:
    """The devices that ran a program, e.g. "4 x gpu (NVIDIA H200)", and how many exist when
    fewer ran: "1 x cpu (cpu) of 4"."""
    devices = jax.devices()
    used = used or len(devices)
    return (f"{used} x {devices[0].platform} ({devices[0].device_kind})"
            + (f" of {len(devices)}" if used < len(devices) else ""))


def train_runs(config: TrainConfig, split: Split, log=print,
               checkpoint_dir: Path | None = None, network: Network | None = None) -> TrainedRuns:
    """Trains every run of `config` on `split` and tests each on the test set; with a
    `checkpoint_dir`, saves progress there every `config.checkpoint_every` epochs and resumes
    from what it finds. `network` is the study's `config.model` unless given (a user's own)."""
    network = network or study_network(config)
    grid = run_grid(config)
    chunk = min(config.seed_chunk or len(grid), len(grid))
    mesh = _mesh_for(chunk)
    chunk = -(-chunk // mesh.size) * mesh.size  # every device busy: pad to a multiple of them
    padding = -len(grid) % chunk
    log(f"{len(grid)} run(s) of {config.model} in chunks of {chunk}"
        + (f" (plus {padding} padding run(s))" if padding else "")
        + f" on {mesh.size} device(s), {describe_device(mesh.size)}; estimated device memory "
        f"per run {memory_per_run_bytes(network, config) / 2**20:,.0f} MiB")
    by_run = NamedSharding(mesh, PartitionSpec("runs"))
    replicated = NamedSharding(mesh, PartitionSpec())
    data = jax.device_put(device_data(split, config), replicated)
    test = jax.device_put(eval_set(split.x_test, split.y_test, config.eval_batch_size,
                                   config.eval_loss), replicated)

    table = EpochTable(chunk) if config.progress else None
    train = make_train(config, table, network)
    init = jax.jit(jax.vmap(train.init), in_shardings=(by_run, by_run), out_shardings=by_run)
    advance = jax.jit(jax.vmap(train.advance, in_axes=(0, None, None)),
                      in_shardings=(by_run, replicated, None), donate_argnums=0)
    status = jax.jit(lambda state: (jnp.all(jax.vmap(train.stopped)(state)), jnp.max(state.epoch)),
                     out_shardings=replicated)
    evaluate = jax.jit(jax.vmap(make_evaluate(config, network), in_axes=(0, None)))

    padded = grid + grid[-1:] * padding
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed, _ in padded])
    lrs = jnp.array([lr for _, lr in padded], jnp.float32)
    start = time.perf_counter()
    template = jax.eval_shape(init, keys[:chunk], lrs[:chunk])
    init = init.lower(keys[:chunk], lrs[:chunk]).compile()
    advance = advance.lower(template, data, 0).compile()
    status = status.lower(template).compile()
    compile_time = time.perf_counter() - start
    segment = config.checkpoint_every if checkpoint_dir else config.max_epochs

    outputs, wall, resuming = [], 0.0, checkpoint_dir is not None
    for index, begin in enumerate(range(0, len(padded), chunk)):
        part = slice(begin, begin + chunk)
        done = checkpoint_dir and Path(checkpoint_dir) / f"chunk-{index}-done.msgpack"
        if done and done.exists():
            output, meta = load_tree(done, _output_template(template, evaluate, test, config))
            outputs.append(output)
            wall += meta["wall"]
            continue
        state, chunk_wall = _restore_or_init(checkpoint_dir, index, template, init, keys[part],
                                             lrs[part], by_run)
        if table:
            table.start = time.perf_counter() - chunk_wall
        finished, epoch = map(int, status(state))
        if resuming and (epoch or index):  # the first chunk to train found saved progress
            log(resuming_line(checkpoint_dir, epoch, range(begin, begin + chunk), len(grid)))
        resuming = False
        while not finished:
            start = time.perf_counter()
            state = advance(state, data, min(epoch + segment, config.max_epochs))
            finished, epoch = map(int, status(state))  # reading them waits for the epochs
            chunk_wall += time.perf_counter() - start
            if checkpoint_dir and not finished:
                _save(Path(checkpoint_dir) / f"chunk-{index}-state.msgpack", state, wall=chunk_wall)
        params = final_params(state, config)
        bookkeeping = state._replace(params=None, opt_state=None, best_params=None, key=None)
        output = process_allgather((params, evaluate(params, test), bookkeeping), tiled=True)
        if done:
            _save(done, output, wall=chunk_wall, gathered=True)
            (Path(checkpoint_dir) / f"chunk-{index}-state.msgpack").unlink(missing_ok=True)
        outputs.append(output)
        wall += chunk_wall
    params, metrics, state = jax.tree_util.tree_map(
        lambda *parts: np.concatenate(parts)[:len(grid)], *outputs)
    runs = [_run_result(state, metrics, i, seed, lr, config, wall / len(grid))
            for i, (seed, lr) in enumerate(grid)]
    results = {"framework": "jax", "model": config.model, "device": describe_device(mesh.size),
               "devices_used": mesh.size, "devices_available": len(jax.devices()),
               "wall_time_s": wall, "compile_time_s": compile_time, "runs": runs}
    if network.own or protocol.architecture(config.model).conv_channels:
        results["conv"] = conv_impl(config.conv)  # what `auto` resolved to
    return TrainedRuns(results, params)


def _restore_or_init(checkpoint_dir, index, template, init, keys, lrs, by_run):
    """A chunk's saved state (placed on the devices) and wall time so far, or a fresh state."""
    path = checkpoint_dir and Path(checkpoint_dir) / f"chunk-{index}-state.msgpack"
    if path and path.exists():
        state, meta = load_tree(path, template)
        if state.epoch.shape != template.epoch.shape:
            raise ConfigError(f"{path}: saved for chunks of {state.epoch.shape[0]} runs, but "
                              f"chunks here hold {template.epoch.shape[0]} (another device "
                              "count); resume on a machine with as many devices as the run began on")
        return jax.device_put(state, by_run), meta["wall"]
    return init(keys, lrs), 0.0


def _save(path: Path, tree, wall: float, gathered: bool = False) -> None:
    host = tree if gathered else process_allgather(tree, tiled=True)
    if jax.process_index() == 0:
        save_tree(path, host, wall=wall)


def _output_template(template, evaluate, test, config):
    params = final_params(template, config)
    bookkeeping = template._replace(params=None, opt_state=None, best_params=None, key=None)
    return params, jax.eval_shape(evaluate, params, test), bookkeeping


def _run_result(state, metrics, i, seed, lr, config, time_s) -> dict:
    epochs = int(state.epoch[i])
    if state.diverged[i]:
        stopped = "diverged"
    elif state.wait[i] >= config.patience:
        stopped = "patience"
    else:
        stopped = "max_epochs"
    history = {name: [float(v) for v in values[i, :epochs]]
               for name, values in zip(("train_loss", "val_loss", "val_accuracy"), state.history)}
    confusion = np.rint(metrics.confusion[i]).astype(int)
    return {"seed": seed, "learning_rate": lr,
            "test_accuracy": int(np.trace(confusion)) / int(confusion.sum()),
            "test_loss": float(metrics.loss[i]), "confusion_matrix": confusion.tolist(),
            "epochs": epochs, "stopped": stopped,
            "best_val_loss": _finite_or_none(state.best_val_loss[i]),
            "best_epoch": int(state.best_epoch[i]), "time_s": time_s, "history": history}


def _finite_or_none(value) -> float | None:
    return float(value) if math.isfinite(float(value)) else None
