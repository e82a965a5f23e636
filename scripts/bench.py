"""JAX against the PyTorch reference, timed side by side in one process.

Workloads, per model: (a) one training epoch plus its validation pass, single seed, JAX and
torch_ref alternating for --reps repetitions (medians; JAX compilation reported apart);
(b) K seeds of the protocol (--epochs fixed epochs, or the full early-stopping protocol),
JAX vmapped in one program against torch_ref's seeds one after the other. FLOPs are counted
from the architectures (forward+backward = 3x forward). A matmul-only reference rate on the same
device says how close the training step comes to the hardware's dense-matmul speed.

    python scripts/bench.py --quick --json out.json      # CPU-sized: simple and big, a few minutes
    python scripts/bench.py --models simple cnn --seeds 8 # GPU: full protocol, 8 seeds
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import torch

from fmnist_jax import protocol
from fmnist_jax.config import PRECISIONS, TrainConfig
from fmnist_jax.data import load_raw, study_split
from fmnist_jax.runner import describe_device, train_runs
from fmnist_jax.train import MATMUL_PRECISION, device_data, make_train
from torch_ref import train as torch_train
from torch_ref.models import build_model


def forward_flops(model: str) -> int:
    """Multiply-adds of one image's forward pass, times two."""
    arch = protocol.architecture(model)
    side, channels, macs = 28, 1, 0
    for out in arch.conv_channels:
        macs += side * side * out * channels * 9
        side, channels = side // 2, out
    width = side * side * channels
    for out in (*arch.hidden, protocol.NUM_CLASSES):
        macs += width * out
        width = out
    return 2 * macs


def epoch_flops(model: str, n_train: int, n_val: int) -> float:
    return forward_flops(model) * (3 * n_train + n_val)


def jax_epoch(config: TrainConfig, data):
    """A compiled one-epoch step for one seed, its compile time, and a state to feed it."""
    train = make_train(config)
    state = jax.jit(train.init)(jax.random.PRNGKey(0), config.learning_rates[0])
    start = time.perf_counter()
    advance = jax.jit(train.advance, donate_argnums=0).lower(state, data, 1).compile()
    return advance, time.perf_counter() - start, state


def torch_epoch(config: TrainConfig, split, device):
    """One torch_ref epoch (training pass and validation pass), as its train_run does it."""
    torch.manual_seed(0)
    model = build_model(config.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rates[0])
    train_set = torch_train.dataset(split.x_train, split.y_train)
    loader = torch.utils.data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True)
    val = torch.utils.data.DataLoader(torch_train.dataset(split.x_val, split.y_val),
                                      batch_size=config.eval_batch_size)
    bf16 = config.precision == "bf16"

    def epoch():
        model.train()
        for images, labels in loader:
            torch_train.train_step(model, optimizer, images.to(device), labels.to(device), bf16)
        torch_train.evaluate(model, val, device, bf16)

    return epoch


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_epoch(config: TrainConfig, split, reps: int, device) -> dict:
    data = device_data(split, config.eval_batch_size)
    advance, compile_s, state = jax_epoch(config, data)
    torch_step = torch_epoch(config, split, device)
    jax_times, torch_times = [], []
    for rep in range(reps + 1):  # the first repetition of each warms up and is dropped
        start = time.perf_counter()
        state = jax.block_until_ready(advance(state, data, state.epoch + 1))
        jax_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        torch_step()
        sync(device)
        torch_times.append(time.perf_counter() - start)
    jax_s, torch_s = statistics.median(jax_times[1:]), statistics.median(torch_times[1:])
    flops = epoch_flops(config.model, len(split.y_train), len(split.y_val))
    samples = len(split.y_train)
    return {"jax_s": jax_s, "torch_s": torch_s, "speedup": torch_s / jax_s,
            "jax_compile_s": compile_s, "jax_samples_per_s": samples / jax_s,
            "torch_samples_per_s": samples / torch_s, "jax_tflops": flops / jax_s / 1e12,
            "torch_tflops": flops / torch_s / 1e12, "reps": reps}


def bench_seeds(config: TrainConfig, split, device) -> dict:
    jax_run = train_runs(config, split, log=lambda *_: None).results
    with tempfile.TemporaryDirectory() as out:
        torch_run = torch_train.train_and_evaluate(config, split, Path(out), device)[0]
    torch_runs, torch_s = torch_run["runs"], torch_run["wall_time_s"]
    epochs = [run["epochs"] for run in jax_run["runs"]], [run["epochs"] for run in torch_runs]
    return {"seeds": config.seeds, "jax_s": jax_run["wall_time_s"],
            "jax_compile_s": jax_run["compile_time_s"],
            "jax_total_s": jax_run["wall_time_s"] + jax_run["compile_time_s"],
            "torch_s": torch_s, "speedup": torch_s / jax_run["wall_time_s"],
            "jax_epochs": epochs[0], "torch_epochs": epochs[1],
            "jax_accuracy": [run["test_accuracy"] for run in jax_run["runs"]],
            "torch_accuracy": [run["test_accuracy"] for run in torch_runs]}


def matmul_reference_tflops(precision: str) -> float:
    """Sustained rate of a chain of batch-128 matmuls of the MLPs' shape (a step's best case)."""
    x = jnp.ones((128, 784), jnp.bfloat16 if precision == "bf16" else jnp.float32)
    w = jnp.full((784, 784), 1e-3, x.dtype)

    @jax.jit
    def chain(x):
        with jax.default_matmul_precision(MATMUL_PRECISION[precision]):
            return jax.lax.fori_loop(0, 200, lambda _, h: h @ w, x)

    jax.block_until_ready(chain(x))
    start = time.perf_counter()
    jax.block_until_ready(chain(x))
    return 200 * 2 * 128 * 784 * 784 / (time.perf_counter() - start) / 1e12


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="CPU-sized: simple and big, 2 epochs on a 10000-image subset")
    parser.add_argument("--models", nargs="+", choices=sorted(protocol.ARCHITECTURES))
    parser.add_argument("--seeds", type=int, help="seeds for workload (b) (default 8; quick 2)")
    parser.add_argument("--epochs", type=int, help="fixed epochs for (b); default: to early stop")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of (a) (default 3)")
    parser.add_argument("--subset", type=int, help="train on the first N training images")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    models = args.models or (["simple", "big"] if args.quick else ["simple", "big", "cnn"])
    seeds = args.seeds or (2 if args.quick else 8)
    epochs = args.epochs or (2 if args.quick else None)
    subset = args.subset or (10_000 if args.quick else None)

    split = study_split(load_raw(args.data_dir))
    device = torch_train.default_device()
    torch_train._set_precision(args.precision)
    figures = {"machine": {"jax": describe_device(), "torch": torch_train._describe(device),
                           "date": time.strftime("%Y-%m-%d"), "precision": args.precision,
                           "matmul_reference_tflops": matmul_reference_tflops(args.precision)}}
    print(f"JAX on {figures['machine']['jax']}, torch on {figures['machine']['torch']}, "
          f"{args.precision}; matmul reference {figures['machine']['matmul_reference_tflops']:.3f} TFLOP/s")
    for model in models:
        config = TrainConfig(model=model, precision=args.precision, progress=False,
                             max_epochs=epochs or protocol.MAX_EPOCHS,
                             patience=epochs + 1 if epochs else protocol.PATIENCE, seeds=seeds)
        bench_split = split if not subset else split._replace(
            x_train=split.x_train[:subset], y_train=split.y_train[:subset])
        endless = replace(config, seeds=1, max_epochs=protocol.MAX_EPOCHS, patience=protocol.MAX_EPOCHS)
        epoch = bench_epoch(endless, split, args.reps, device)  # full epochs that never stop
        print(f"{model:6s} (a) one epoch, 1 seed:  jax {epoch['jax_s']:7.3f} s  torch "
              f"{epoch['torch_s']:7.3f} s  speedup {epoch['speedup']:5.2f}x  | jax "
              f"{epoch['jax_tflops']:.3f} TFLOP/s, torch {epoch['torch_tflops']:.3f} TFLOP/s, "
              f"{epoch['jax_samples_per_s']:,.0f} vs {epoch['torch_samples_per_s']:,.0f} samples/s"
              f" | jax compile {epoch['jax_compile_s']:.2f} s", flush=True)
        runs = bench_seeds(config, bench_split, device)
        print(f"{model:6s} (b) {seeds} seeds x {epochs or 'early-stop'} epochs: jax "
              f"{runs['jax_s']:8.2f} s (+{runs['jax_compile_s']:.2f} s compile)  torch "
              f"{runs['torch_s']:8.2f} s  speedup {runs['speedup']:5.2f}x", flush=True)
        figures[model] = {**epoch, "seeds": runs}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
