"""A user's `nn.Conv` CNN in the compiled loop, with and without `patch_convs`, on this backend.

For two CNNs written as a user writes them (`nn.Conv`, `nn.max_pool`, `nn.Dense`), in one
process (a noisy machine: compare ratios, not seconds):
- digits: Conv 16 (3x3, SAME), ReLU, 2x2 max-pool, Dense 10, on 8x8x1 images (sklearn's
  load_digits' size);
- fmnist: Conv 32, ReLU, pool, Conv 64, ReLU, pool, Dense 128, ReLU, Dense 10, on 28x28x1;
each timed as one Adam training step (batch 128, float32, random data) jitted alone (median of
10 x --reps calls) and as a step of a `lax.scan` over --steps batches (the scan's median time
over --reps runs, divided by --steps), with the plain `module.apply` ("nn.Conv") and with
`fmnist_jax.nn.user_conv.fast_apply` ("patch_convs"). XLA's CPU backend runs a convolution in
a loop body far off its fast path (jax-ml/jax#12868): "loop / alone" shows what that costs and
what the patches matmul leaves of it; "loop / nn.Conv alone" holds the loop step against the
plain nn.Conv step jitted alone (XLA's convolution on its fast path).

    python scripts/bench_user_conv.py --out results/bench-user-conv-cpu.json
    python scripts/bench_user_conv.py --quick                     # seconds: a smoke test
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import optax

from fmnist_jax.nn.runner import describe_device
from fmnist_jax.nn.user_conv import fast_apply
from fmnist_jax.reporting.provenance import provenance


class UserCNN(nn.Module):
    """A CNN as a user writes it: SAME 3x3 convs with ReLU and 2x2 max-pooling, then dense."""

    channels: tuple[int, ...]
    hidden: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, x):
        for channels in self.channels:
            x = nn.max_pool(nn.relu(nn.Conv(channels, (3, 3))(x)), (2, 2), (2, 2))
        x = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(10)(x)


MODELS = {"digits": (UserCNN((16,)), (8, 8, 1)),
          "fmnist": (UserCNN((32, 64), (128,)), (28, 28, 1))}
APPLIES = {"nn.Conv": lambda model: model.apply, "patch_convs": fast_apply}


def make_step(apply):
    """One Adam step of softmax cross-entropy: (params, opt_state, images, labels) -> same."""
    optimizer = optax.adam(1e-3)

    def loss(params, images, labels):
        logits = apply({"params": params}, images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    def step(params, opt_state, images, labels):
        grads = jax.grad(loss)(params, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return optimizer, step


def median_seconds(function, *args, reps: int) -> float:
    """The median wall time of `function(*args)` over `reps` calls, after one to compile."""
    jax.block_until_ready(function(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, conv: str, batch: int, steps: int, reps: int) -> dict:
    """Per-step seconds of one training step alone and inside a scan over `steps` batches."""
    model, image_shape = MODELS[name]
    key_params, key_images, key_labels = jax.random.split(jax.random.PRNGKey(0), 3)
    images = jax.random.uniform(key_images, (steps, batch, *image_shape))
    labels = jax.random.randint(key_labels, (steps, batch), 0, 10)
    params = model.init(key_params, images[0])["params"]
    optimizer, step = make_step(APPLIES[conv](model))
    opt_state = optimizer.init(params)

    def loop(params, opt_state, images, labels):
        def body(carry, batch):
            return step(*carry, *batch), None
        return jax.lax.scan(body, (params, opt_state), (images, labels))[0]

    alone = median_seconds(jax.jit(step), params, opt_state, images[0], labels[0],
                           reps=10 * reps)
    in_loop = median_seconds(jax.jit(loop), params, opt_state, images, labels, reps=reps) / steps
    return {"model": name, "conv": conv, "step_alone_s": alone, "loop_step_s": in_loop,
            "loop_over_alone": in_loop / alone}


def table(rows: list[dict]) -> str:
    header = "| model | conv | step alone (s) | in the loop (s) | loop / alone | loop / nn.Conv alone |"
    lines = [header, "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['conv']} | {r['step_alone_s']:.4f} | {r['loop_step_s']:.4f} "
              f"| {r['loop_over_alone']:.2f}x | {r['loop_over_nn_conv_alone']:.2f}x |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS),
                        help="models (default all)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--steps", type=int, default=10,
                        help="training steps of the timed scan (default %(default)s)")
    parser.add_argument("--reps", type=int, default=3,
                        help="repetitions of the scan, 10x as many of the lone step (default "
                             "%(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="seconds: batch 8, 2 steps, 1 repetition (checks that it runs)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.reps = 8, 2, 1
    rows = [measure(name, conv, args.batch, args.steps, args.reps)
            for name in args.models for conv in APPLIES]
    plain_alone = {row["model"]: row["step_alone_s"] for row in rows if row["conv"] == "nn.Conv"}
    for row in rows:
        row["loop_over_nn_conv_alone"] = row["loop_step_s"] / plain_alone[row["model"]]
    record = provenance(device=describe_device(1))
    print(table(rows))
    print(f"\nbatch {args.batch}, float32, {args.steps} steps a scan; medians of {args.reps} scans "
          f"and {10 * args.reps} lone steps; {record['device']}, CPU {record['cpu']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"provenance": record, "batch": args.batch,
                                        "steps": args.steps, "reps": args.reps, "rows": rows},
                                       indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
