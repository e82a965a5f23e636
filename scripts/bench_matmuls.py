"""The rate of every matmul in a training step, by product and dtype: where bf16 loses its speed.

A dense or conv layer (`fmnist_jax.nn.layers.matmul`) runs three products per step: the forward
x @ w, the input gradient (skipped for the first layer) and the weight gradient, which sums over
the batch (times positions for a conv). Each is timed here alone, inside a compiled loop, with
the function the model runs (`matmul`, `input_grad`, `weight_grad`), in float32 and in bf16
(bf16 operands, float32 accumulation), at the shapes of a batch of 128. The last columns add
the products up: the step's matmul time at these rates, and bf16 over float32, the best ratio
a bf16 step can reach with these kernels.

    python scripts/bench_matmuls.py --json results/bench-matmuls-cpu.json
"""

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from bench import timed

from fmnist_jax import protocol
from fmnist_jax.nn.layers import input_grad, input_grad_kernel_first, matmul, weight_grad
from fmnist_jax.nn.runner import describe_device
from fmnist_jax.reporting.provenance import provenance

DTYPES = {"float32": jnp.float32, "bf16": jnp.bfloat16}


def products(model: str, batch: int):
    """(layer, product, function, lhs shape, rhs shape, FLOPs) of one training step."""
    for i, layer in enumerate(protocol.layer_specs(protocol.architecture(model))):
        rows, name = batch * layer.positions, f"{i + 1}:{layer.kind} {layer.fan_in}x{layer.features}"
        flops = 2 * rows * layer.fan_in * layer.features
        inputs, kernel, grad = (rows, layer.fan_in), (layer.fan_in, layer.features), (rows, layer.features)
        yield name, "forward", matmul, inputs, kernel, flops
        # the first operand changes every repetition: it is the one a product may transpose
        if i and input_grad_kernel_first(kernel[0] * kernel[1], grad[0] * grad[1]):
            yield name, "input grad", lambda w, g: input_grad(g, w), kernel, grad, flops
        elif i:
            yield name, "input grad", input_grad, grad, kernel, flops
        yield name, "weight grad", weight_grad, inputs, grad, flops


def seconds(product, lhs_shape, rhs_shape, dtype, flops: float) -> float:
    """Seconds of one product, the best of 3 runs of a compiled loop of about 0.2 s."""
    reps = max(3, int(0.2 / (flops / 150e9)))
    lhs, rhs = jnp.full(lhs_shape, 0.5, dtype), jnp.full(rhs_shape, 0.5, dtype)

    @jax.jit
    def run(lhs, rhs):
        def body(_, total):  # the operand depends on the carry, so nothing is hoisted
            return total + product(lhs + total.astype(dtype), rhs)[0, 0] * 0
        return jax.lax.fori_loop(0, reps, body, jnp.zeros((), jnp.float32))

    timed(run, lhs, rhs)  # compilation
    best = min(timed(run, lhs, rhs) for _ in range(3))
    return best / reps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=protocol.MODEL_NAMES,
                        default=list(protocol.MODEL_NAMES), help="models (default all)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default 128)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    print(f"JAX on {describe_device()}", flush=True)
    rows, totals = [], {}
    print("| model | layer | product | float32 GFLOP/s | bf16 GFLOP/s | bf16 / float32 time |\n"
          "|---|---|---|---|---|---|")
    for model in args.models:
        total = dict.fromkeys(DTYPES, 0.0)
        for layer, product, function, lhs, rhs, flops in products(model, args.batch):
            times = {name: seconds(function, lhs, rhs, dtype, flops) for name, dtype in DTYPES.items()}
            for name in DTYPES:
                total[name] += times[name]
            rows.append({"model": model, "layer": layer, "product": product,
                         "flops": flops, **{f"{n}_gflops": flops / t / 1e9 for n, t in times.items()}})
            print(f"| {model} | {layer} | {product} | {rows[-1]['float32_gflops']:.0f} | "
                  f"{rows[-1]['bf16_gflops']:.0f} | {times['bf16'] / times['float32']:.2f}x |",
                  flush=True)
        totals[model] = {"float32_s": total["float32"], "bf16_s": total["bf16"],
                         "bf16_over_float32": total["bf16"] / total["float32"]}
    print("\n| model | step's matmuls, float32 (s) | bf16 (s) | bf16 / float32 |\n|---|---|---|---|")
    for model, total in totals.items():
        print(f"| {model} | {total['float32_s']:.4f} | {total['bf16_s']:.4f} | "
              f"{total['bf16_over_float32']:.2f}x |")
    if args.json:
        record = {"batch": args.batch, "products": rows, "steps": totals,
                  "provenance": provenance(("jax",), device=describe_device())}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
