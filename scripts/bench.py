"""Speed of the training loop as users run it, against the PyTorch reference and the hardware.

For each model and precision, in one process (a noisy machine: compare ratios, not seconds):
- matmul peak: a chain of 2048^3 matmuls in the precision's compute dtype (bf16 with float32
  accumulation) on the same device: the limit a training step is held against;
- step alone: one jitted training step (1 seed), median of repetitions;
- the compiled loop, K seeds in one program (`advance` of `fmnist_jax.nn.train`, the function
  `fmnist train` runs): the per-seed time of a training step for K = 1, 2, 4, 8, measured on an
  epoch of --steps batches (and one validation chunk) after a warm-up epoch, and its ratio to
  K = 1; the fraction of the matmul peak the K = 1 step reaches;
- the step's floor: its matmul FLOPs at that peak plus the Adam update of its float32
  parameters measured alone (memory-bound: it reads and writes every parameter and moment),
  and, for bf16, that floor against the float32 loop step (the best bf16/float32 ratio);
- torch_ref's training step (1 seed, its DataLoader and `train_step`, as it trains) over the
  same number of batches, and JAX's speedup over it;
- torch_ref's K seeds both ways PyTorch offers, per seed and step: K models one after the other
  (as torch_ref trains), and the K models at once with `torch.func` (`torch_ref.func_seeds`:
  stacked parameters, `functional_call` under `vmap`, one Adam), plain and under
  `torch.compile` where it compiles; beside JAX's K seeds in one program;
- one full-data epoch (50000 training and 10000 validation images), 1 seed, in JAX, and in
  torch_ref for the MLPs (a torch_ref cnn epoch takes over ten minutes here: --torch-cnn-epoch).

    python scripts/bench.py --json results/bench-cpu.json           # every model and precision
    python scripts/bench.py --quick                                  # seconds: a smoke test
"""

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
import torch

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.idx import load_raw
from fmnist_jax.data.split import study_split, synthetic_split
from fmnist_jax.nn.models import COMPUTE
from fmnist_jax.nn.runner import describe_device
from fmnist_jax.nn.train import device_data, make_optimizer, make_train
from fmnist_jax.reporting.provenance import provenance
from torch_ref import train as torch_train
from torch_ref.func_seeds import FuncSeeds
from torch_ref.models import build_model

PRECISIONS = ("float32", "bf16")


def timed(function, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(function(*args))
    return time.perf_counter() - start


def matmul_peak_flops(precision: str, size: int = 2048, chain: int = 20) -> float:
    """FLOP/s of a chain of dependent size^3 matmuls in the precision's compute dtype."""
    dtype = COMPUTE[precision][0] or jnp.float32
    a = jnp.full((size, size), 1.0 / size, dtype)

    @jax.jit
    def run(x):
        def body(_, y):
            return jnp.matmul(y.astype(dtype), a, preferred_element_type=jnp.float32)
        return jax.lax.fori_loop(0, chain, body, x.astype(jnp.float32))

    x = jnp.ones((size, size), jnp.float32)
    seconds = min(timed(run, x) for _ in range(3))
    return 2 * size**3 * chain / seconds


def step_flops(model: str, batch: int) -> float:
    """A training step's FLOPs: forward, and a backward pass of twice the forward."""
    return 3 * protocol.forward_flops(protocol.architecture(model)) * batch


def adam_update_s(config: TrainConfig, updates: int = 50) -> float:
    """Seconds of one Adam update (optax's, as `fmnist train` runs it) of the model's float32
    parameters, inside a compiled loop of `updates` updates."""
    trainer = make_train(config)
    params = jax.jit(trainer.init)(jax.random.PRNGKey(0), config.learning_rates[0]).params
    optimizer = make_optimizer(config.learning_rates[0])

    @jax.jit
    def run(params):
        def body(carry, scale):
            params, opt_state = carry
            grads = jax.tree_util.tree_map(lambda p: p * scale, params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None
        return jax.lax.scan(body, (params, optimizer.init(params)),
                            jnp.linspace(0.1, 1.0, updates))[0]

    timed(run, params)
    return min(timed(run, params) for _ in range(3)) / updates


def alone_step(config: TrainConfig, split, reps: int) -> float:
    """Median seconds of one jitted training step (1 seed), after a warm-up call."""
    trainer = make_train(config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0), config.learning_rates[0])
    step = jax.jit(trainer.step)
    batch = (jnp.asarray(split.x_train[:config.batch_size]),
             jnp.asarray(split.y_train[:config.batch_size]), jnp.ones(config.batch_size))
    timed(step, state.params, state.opt_state, *batch)
    return statistics.median(timed(step, state.params, state.opt_state, *batch)
                             for _ in range(reps))


def loop_step(config: TrainConfig, split, seeds: int) -> float:
    """Seconds per seed and training step inside the compiled loop with `seeds` seeds in one
    program: one epoch of the split, timed after a warm-up epoch."""
    trainer = make_train(config)
    data = device_data(split, config)
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(seeds)])
    state = jax.jit(jax.vmap(trainer.init))(keys, jnp.full((seeds,), config.learning_rates[0]))
    advance = jax.jit(jax.vmap(trainer.advance, in_axes=(0, None, None)), donate_argnums=0)
    state = advance(state, data, 1)
    jax.block_until_ready(state)
    start = time.perf_counter()
    jax.block_until_ready(advance(state, data, 2))
    batches = -(-len(split.y_train) // config.batch_size)
    return (time.perf_counter() - start) / batches / seeds


def jax_epoch(config: TrainConfig, split, repeats: int) -> float:
    """Seconds of one full epoch (training and validation), 1 seed, after compilation: the
    fastest of `repeats` epochs, each after one epoch more when `repeats` > 1 (the first epochs
    of a process run slower here)."""
    trainer = make_train(config)
    data = device_data(split, config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0), config.learning_rates[0])
    advance = jax.jit(trainer.advance, donate_argnums=0).lower(state, data, 1).compile()
    if repeats > 1:
        state = advance(state, data, 1)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        state = jax.block_until_ready(advance(state, data, state.epoch + 1))
        seconds.append(time.perf_counter() - start)
    return min(seconds)


class TorchTrainer:
    """torch_ref's model, optimizer and data loaders for one seed, as its training run has them."""

    def __init__(self, config: TrainConfig, split, device):
        torch.manual_seed(0)
        torch_train._set_precision(config.precision)
        self.config, self.device, self.bf16 = config, device, config.precision == "bf16"
        self.model = build_model(config.model).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rates[0])
        self.loader = torch.utils.data.DataLoader(
            torch_train.dataset(split.x_train, split.y_train), batch_size=config.batch_size,
            shuffle=True)
        self.val = torch.utils.data.DataLoader(torch_train.dataset(split.x_val, split.y_val),
                                               batch_size=config.eval_batch_size)

    def steps(self, count: int) -> float:
        """Seconds of `count` training steps."""
        self.model.train()
        start = time.perf_counter()
        for step, (images, labels) in enumerate(self.loader):
            if step == count:
                break
            torch_train.train_step(self.model, self.optimizer, images.to(self.device),
                                   labels.to(self.device), self.bf16)
        self._sync()
        return time.perf_counter() - start

    def epoch(self) -> float:
        """Seconds of one epoch: the training pass and the validation pass."""
        start = time.perf_counter()
        self.steps(len(self.loader))
        torch_train.evaluate(self.model, self.val, self.device, self.bf16, self.config.eval_loss)
        self._sync()
        return time.perf_counter() - start

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


TORCH_WAYS = ("sequential", "torch.func", "torch.func+compile")


def torch_seeds_step(config: TrainConfig, split, device, seeds: int, steps: int,
                     way: str) -> float | str:
    """Seconds per seed and training step of `seeds` torch_ref models trained `way`
    (`TORCH_WAYS`), each on its own random batches, after a warm-up step; where
    `torch.compile` fails, the first line of its error instead."""
    torch_train._set_precision(config.precision)
    batch, bf16 = config.batch_size, config.precision == "bf16"
    images, labels = torch_train.dataset(split.x_train, split.y_train).tensors
    picks = torch.randint(0, len(labels), (steps + 1, seeds, batch))
    batches = [(images[i].to(device), labels[i].to(device)) for i in picks]
    if way == "sequential":
        models = [build_model(config.model).to(device) for _ in range(seeds)]
        optimizers = [torch.optim.Adam(m.parameters(), lr=config.learning_rates[0]) for m in models]

        def step(x, y):
            for k, (model, optimizer) in enumerate(zip(models, optimizers)):
                torch_train.train_step(model, optimizer, x[k], y[k], bf16)
    else:
        stacked = FuncSeeds(config.model, seeds, config.learning_rates[0], device, bf16,
                            compile=way.endswith("compile"))
        step = stacked.step
    try:
        step(*batches[0])
    except Exception as error:  # torch.compile's failures have many types
        if not way.endswith("compile"):
            raise
        return f"did not compile: {str(error).strip().splitlines()[0][:120]}"
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for x, y in batches[1:]:
        step(x, y)
    sync()
    return (time.perf_counter() - start) / steps / seeds


def bench(model: str, precision: str, split, args, device) -> dict:
    config = TrainConfig(model=model, precision=precision, progress=False,
                         max_epochs=protocol.MAX_EPOCHS, patience=protocol.MAX_EPOCHS)
    batch = config.batch_size
    steps = args.steps or (8 if model == "cnn" else 100)
    small = split._replace(x_train=split.x_train[:steps * batch],
                           y_train=split.y_train[:steps * batch],
                           x_val=split.x_val[:batch], y_val=split.y_val[:batch])
    small_config = replace(config, eval_batch_size=batch)
    figures = {"model": model, "precision": precision,
               "matmul_peak_tflops": matmul_peak_flops(precision) / 1e12,
               "step_alone_s": alone_step(config, split, args.reps)}
    loop = {k: loop_step(small_config, small, k) for k in args.seeds}
    figures["loop_step_s"] = loop
    figures["loop_over_alone"] = loop[1] / figures["step_alone_s"]
    figures["per_seed_vs_one_seed"] = {k: loop[k] / loop[1] for k in args.seeds}
    figures["fraction_of_matmul_peak"] = (step_flops(model, batch) / loop[1]
                                          / (figures["matmul_peak_tflops"] * 1e12))
    figures["adam_update_s"] = adam_update_s(config)
    figures["step_floor_s"] = (step_flops(model, batch) / (figures["matmul_peak_tflops"] * 1e12)
                               + figures["adam_update_s"])
    reference = TorchTrainer(config, split, device)
    reference.steps(2)  # warm-up
    figures["torch_step_s"] = reference.steps(steps) / steps
    figures["jax_step_speedup"] = figures["torch_step_s"] / loop[1]
    figures["torch_seeds_step_s"] = {way: {k: torch_seeds_step(config, split, device, k, steps, way)
                                           for k in args.seeds} for way in args.torch_ways}
    if args.full_epoch:
        figures["epoch_jax_s"] = jax_epoch(config, split, repeats=1 if model == "cnn" else 3)
        if model != "cnn" or args.torch_cnn_epoch:
            reference.epoch()  # warm-up
            figures["epoch_torch_s"] = reference.epoch()
            figures["jax_epoch_speedup"] = figures["epoch_torch_s"] / figures["epoch_jax_s"]
    return figures


def table(rows: list[dict], seeds: list[int]) -> str:
    """The figures as a Markdown table."""
    k_columns = [k for k in seeds if k != 1]
    header = (["model", "precision", "step alone (s)", "in the loop, K=1 (s)", "loop / alone"]
              + [f"per seed, K={k}" for k in k_columns]
              + ["of matmul peak", "torch_ref step (s)", "JAX speedup (step)", "epoch JAX (s)",
                 "epoch torch_ref (s)"])
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for r in rows:
        cells = [r["model"], r["precision"], f"{r['step_alone_s']:.4f}",
                 f"{r['loop_step_s'][1]:.4f}", f"{r['loop_over_alone']:.2f}x"]
        cells += [f"{r['per_seed_vs_one_seed'][k]:.2f}x" for k in k_columns]
        cells.append(f"{r['fraction_of_matmul_peak']:.0%} of {r['matmul_peak_tflops'] * 1e3:.0f} "
                     "GFLOP/s")
        cells += [f"{r['torch_step_s']:.4f}", f"{r['jax_step_speedup']:.2f}x"]
        cells += [f"{r[key]:.1f}" if key in r else "–" for key in ("epoch_jax_s", "epoch_torch_s")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_table(rows: list[dict], seeds: list[int]) -> str:
    """K seeds, per seed and training step: JAX's program against torch_ref's K models."""
    ways = list(dict.fromkeys(way for r in rows for way in r["torch_seeds_step_s"]))
    header = (["model", "precision", "K", "JAX, one program (s)"]
              + [f"torch_ref, {way} (s)" for way in ways] + ["JAX speedup over the best torch"])
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for r in rows:
        for k in seeds:
            torch_times = [r["torch_seeds_step_s"][way][k] for way in ways]
            measured = [t for t in torch_times if isinstance(t, float)]
            cells = [r["model"], r["precision"], str(k), f"{r['loop_step_s'][k]:.4f}"]
            cells += [f"{t:.4f}" if isinstance(t, float) else t for t in torch_times]
            cells.append(f"{min(measured) / r['loop_step_s'][k]:.2f}x" if measured else "–")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def precision_table(rows: list[dict]) -> str:
    """bf16 against float32, per model with both rows: the measured ratios and the floor's."""
    header = ["model", "bf16 / float32 loop step", "floor: bf16 step at best / float32 step",
              "Adam update (s)", "bf16 / float32 epoch", "JAX bf16 epoch speedup over torch_ref"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    by_key = {(r["model"], r["precision"]): r for r in rows}
    for model in dict.fromkeys(r["model"] for r in rows):
        fp32, bf16 = by_key.get((model, "float32")), by_key.get((model, "bf16"))
        if not (fp32 and bf16):
            continue
        cells = [model, f"{bf16['loop_step_s'][1] / fp32['loop_step_s'][1]:.2f}x",
                 f"{bf16['step_floor_s'] / fp32['loop_step_s'][1]:.2f}x",
                 f"{bf16['adam_update_s']:.4f}"]
        cells.append(f"{bf16['epoch_jax_s'] / fp32['epoch_jax_s']:.2f}x"
                     if "epoch_jax_s" in bf16 and "epoch_jax_s" in fp32 else "–")
        cells.append(f"{bf16['jax_epoch_speedup']:.2f}x" if "jax_epoch_speedup" in bf16 else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=protocol.MODEL_NAMES,
                        default=list(protocol.MODEL_NAMES), help="models (default all)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="precisions (default float32 bf16)")
    parser.add_argument("--seeds", type=lambda s: [int(k) for k in s.split(",")],
                        default=[1, 2, 4, 8], help="seed counts K, comma-separated "
                                                   "(default 1,2,4,8; must include 1)")
    parser.add_argument("--steps", type=int,
                        help="training steps of the timed loop epoch (default 8 for the cnn, "
                             "100 for the MLPs)")
    parser.add_argument("--reps", type=int, default=5,
                        help="repetitions of the lone step (default %(default)s)")
    parser.add_argument("--no-full-epoch", dest="full_epoch", action="store_false",
                        help="skip the full-data epochs")
    parser.add_argument("--torch-cnn-epoch", action="store_true",
                        help="time a full torch_ref cnn epoch too (over ten minutes on 2 cores)")
    parser.add_argument("--torch-ways", type=lambda s: [w for w in s.split(",") if w],
                        default=list(TORCH_WAYS),
                        help="how torch_ref's K seeds are timed, comma-separated from "
                             f"{','.join(TORCH_WAYS)} (default all; '' for none)")
    parser.add_argument("--quick", action="store_true",
                        help="seconds: the simple model in float32, K = 1, 2, 2 steps, synthetic "
                             "data, no full epoch, torch's K seeds without torch.compile "
                             "(checks that the script runs)")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.precisions, args.seeds = ["simple"], ["float32"], [1, 2]
        args.steps, args.reps, args.full_epoch = 2, 2, False
        args.torch_ways = [way for way in args.torch_ways if not way.endswith("compile")]
        split = synthetic_split(n_train=512, n_val=128, n_test=128)
    else:
        split = study_split(load_raw(args.data_dir))
    if 1 not in args.seeds:
        parser.error("--seeds must include 1, the reference of every ratio")
    if set(args.torch_ways) - set(TORCH_WAYS):
        parser.error(f"--torch-ways: choose from {', '.join(TORCH_WAYS)}")
    device = torch_train.default_device()
    print(f"JAX on {describe_device()}, torch_ref on {torch_train.describe(device)}", flush=True)
    rows, record = [], provenance(("jax", "torch"), device=describe_device())
    for model in args.models:
        for precision in args.precisions:
            rows.append(bench(model, precision, split, args, device))
            print(table(rows[-1:], args.seeds).splitlines()[-1], flush=True)
            if args.json:  # after every row: an interrupted bench keeps what it measured
                args.json.write_text(json.dumps({"rows": rows, "provenance": record},
                                                indent=2) + "\n")
    print()
    print(table(rows, args.seeds))
    if args.torch_ways:
        print()
        print(seeds_table(rows, args.seeds))
    if len(args.precisions) > 1:
        print()
        print(precision_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
