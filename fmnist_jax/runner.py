"""Many runs (seeds x learning rates) of the training protocol in one compiled program.

The runs are vmapped, cut into chunks of `seed_chunk` runs when memory requires it (the last
chunk is padded so one program serves every chunk), and their axis is sharded over a
`jax.sharding` mesh of all devices, so 8 GPUs train 8 runs in the time of one. Over several
hosts (after `jax.distributed.initialize`) the mesh spans every process's devices and the
results are gathered to each process.
"""

import math
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.multihost_utils import process_allgather
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data import Split
from fmnist_jax.progress import EpochTable
from fmnist_jax.train import device_data, eval_set, final_params, make_evaluate, make_train


class Outcome(NamedTuple):
    results: dict  # the run directory's results.json, with histories
    params: dict  # final parameters stacked over the runs axis


def run_grid(config: TrainConfig) -> list[tuple[int, float]]:
    """Every (seed, learning rate) pair, learning rate major."""
    seeds = range(config.seed, config.seed + config.seeds)
    return [(seed, lr) for lr in config.learning_rates for seed in seeds]


def memory_per_run_bytes(config: TrainConfig) -> int:
    """Estimated device memory of one run: parameters, gradients and Adam moments (and the
    best parameters with restore_best), plus activations of a training batch (kept for the
    backward pass) and of an evaluation chunk."""
    arch = protocol.architecture(config.model)
    side, channels, per_image = 28, 1, 0
    layer_params = 0
    for out in arch.conv_channels:
        layer_params += 9 * channels * out + out
        per_image += side * side * out * 2
        side, channels = side // 2, out
    width = side * side * channels
    for out in (*arch.hidden, protocol.NUM_CLASSES):
        layer_params += width * out + out
        per_image += out * 2
        width = out
    copies = 5 if config.restore_best else 4
    return 4 * (copies * layer_params + per_image * (2 * config.batch_size + config.eval_batch_size))


def _mesh_for(chunk: int) -> Mesh:
    """A 1-D mesh over the largest number of devices that divides the chunk evenly."""
    devices = jax.devices()
    count = max(d for d in range(1, len(devices) + 1) if chunk % d == 0)
    return Mesh(np.array(devices[:count]), ("runs",))


def describe_device() -> str:
    devices = jax.devices()
    return f"{len(devices)} x {devices[0].platform} ({devices[0].device_kind})"


def train_runs(config: TrainConfig, split: Split, log=print) -> Outcome:
    """Trains every run of `config` on `split` and tests each on the test set."""
    grid = run_grid(config)
    chunk = min(config.seed_chunk or len(grid), len(grid))
    mesh = _mesh_for(chunk)
    log(f"{len(grid)} run(s) of {config.model} in chunks of {chunk} over "
        f"{mesh.devices.size} device(s); estimated device memory per run "
        f"{memory_per_run_bytes(config) / 2**20:,.0f} MiB")
    by_run = NamedSharding(mesh, PartitionSpec("runs"))
    replicated = NamedSharding(mesh, PartitionSpec())
    data = jax.device_put(device_data(split, config.eval_batch_size), replicated)
    test = jax.device_put(eval_set(split.x_test, split.y_test, config.eval_batch_size), replicated)

    table = EpochTable(chunk) if config.progress else None
    program = jax.jit(jax.vmap(make_train(config, table), in_axes=(0, None, 0)),
                      in_shardings=(by_run, replicated, by_run))
    evaluate = jax.jit(jax.vmap(make_evaluate(config), in_axes=(0, None)))

    padded = grid + grid[-1:] * (-len(grid) % chunk)
    keys = jnp.stack([jax.random.PRNGKey(seed) for seed, _ in padded])
    lrs = jnp.array([lr for _, lr in padded], jnp.float32)
    start = time.perf_counter()
    compiled = program.lower(keys[:chunk], data, lrs[:chunk]).compile()
    compile_time = time.perf_counter() - start

    outputs, wall = [], 0.0
    for begin in range(0, len(padded), chunk):
        part = slice(begin, begin + chunk)
        if table:
            table.start = time.perf_counter()
        start = time.perf_counter()
        state = jax.block_until_ready(compiled(keys[part], data, lrs[part]))
        wall += time.perf_counter() - start
        params = final_params(state, config)
        bookkeeping = state._replace(params=None, opt_state=None, best_params=None, key=None)
        outputs.append(process_allgather((params, evaluate(params, test), bookkeeping), tiled=True))
    params, metrics, state = jax.tree_util.tree_map(
        lambda *parts: np.concatenate(parts)[:len(grid)], *outputs)
    runs = [_run_result(state, metrics, i, seed, lr, config, wall / len(grid))
            for i, (seed, lr) in enumerate(grid)]
    results = {"framework": "jax", "model": config.model, "device": describe_device(),
               "wall_time_s": wall, "compile_time_s": compile_time, "runs": runs}
    return Outcome(results, params)


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
    return {"seed": seed, "learning_rate": lr,
            "test_accuracy": float(metrics.accuracy[i]), "test_loss": float(metrics.loss[i]),
            "confusion_matrix": np.rint(metrics.confusion[i]).astype(int).tolist(),
            "epochs": epochs, "stopped": stopped,
            "best_val_loss": _finite_or_none(state.best_val_loss[i]),
            "best_epoch": int(state.best_epoch[i]), "time_s": time_s, "history": history}


def _finite_or_none(value) -> float | None:
    return float(value) if math.isfinite(float(value)) else None
