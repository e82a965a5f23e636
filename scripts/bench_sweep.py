"""The sweep's engines side by side: scikit-learn's MLPClassifier against its algorithm in JAX.

The same configuration, the same data and the same number of epochs (tol 0, so no fit stops
early), in one process: sklearn's fit (its BLAS threads on every core), then the JAX engine
with 1 seed and with K seeds in one program (wall time including compilation, and the
compilation alone, measured as a 1-epoch fit of the same program shape). Against the hardware:
the fit's matmul FLOPs at the float32 matmul peak measured in the same run (`bench.py`'s), which
bounds what any engine can reach here. A noisy machine: compare the ratios.

    python scripts/bench_sweep.py --json results/bench-sweep-cpu.json
"""

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path

from bench import matmul_peak_flops

from fmnist_jax.mlp.sweep import BY_NAME, load_data, make_estimator
from fmnist_jax.reporting.provenance import provenance


def timed_fit(fit) -> float:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the epochs are fixed on purpose
        fit()
    return time.perf_counter() - start


def epoch_flops(layer_units: list[int], n: int) -> float:
    """One epoch's matmul FLOPs in sklearn's backprop: forward, the weight gradients, and the
    deltas of every layer but the first."""
    products = [fan_in * fan_out for fan_in, fan_out in itertools.pairwise(layer_units)]
    return 2 * n * (2 * sum(products) + sum(products[1:]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="base", help="sweep configuration (default base)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every fit (default 10)")
    parser.add_argument("--seeds", type=int, default=8, help="K of the many-seed fit (default 8)")
    parser.add_argument("--subset", type=int, help="first N training images (default all 60000)")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    x, y, _, _ = load_data(args.data_dir, args.subset)
    config = BY_NAME[args.config]
    fixed = {"max_iter": args.epochs, "tol": 0.0}

    def estimator(engine: str, **extra):
        made = make_estimator(config, 0, engine=engine, **fixed)
        return made.set_params(n_iter_no_change=args.epochs, **extra)

    reference = estimator("sklearn")
    sklearn_s = timed_fit(lambda: reference.fit(x, y))
    compile_s = timed_fit(lambda: estimator("jax", max_iter=1).fit_seeds(x, y, [0]))
    one_s = timed_fit(lambda: estimator("jax").fit_seeds(x, y, [0]))
    many_s = timed_fit(lambda: estimator("jax").fit_seeds(x, y, list(range(args.seeds))))
    peak = matmul_peak_flops("float32")
    units = [*(kernel.shape[0] for kernel in reference.coefs_), reference.coefs_[-1].shape[1]]
    bound_s = epoch_flops(units, len(x)) * args.epochs / peak  # one seed's fit at the peak
    seed_epoch_s = (one_s - compile_s) / (args.epochs - 1)  # one seed, compilation left out
    figures = {"config": args.config, "epochs": args.epochs, "n_train": len(x),
               "sklearn_s": sklearn_s, "jax_1_seed_s": one_s,
               f"jax_{args.seeds}_seeds_s": many_s, "jax_compile_and_1_epoch_s": compile_s,
               "speedup_1_seed": sklearn_s / one_s,
               f"{args.seeds}_seeds_over_1_seed": many_s / one_s,
               "speedup_per_seed": sklearn_s * args.seeds / many_s,
               "matmul_peak_gflops": peak / 1e9, "fit_at_matmul_peak_s": bound_s,
               "best_possible_speedup_1_seed": sklearn_s / bound_s,
               "jax_1_seed_fraction_of_peak": bound_s / args.epochs / seed_epoch_s,
               f"jax_{args.seeds}_seeds_fraction_of_peak":
                   bound_s * args.seeds / (many_s - compile_s),
               "provenance": provenance(("jax", "sklearn"))}
    print(f"{args.config}, {args.epochs} epochs on {len(x)} images: sklearn {sklearn_s:.1f} s | "
          f"JAX 1 seed {one_s:.1f} s ({sklearn_s / one_s:.1f}x faster) | JAX {args.seeds} seeds "
          f"{many_s:.1f} s ({many_s / one_s:.2f}x one seed; {sklearn_s * args.seeds / many_s:.1f}x "
          f"sklearn per seed) | JAX compilation + 1 epoch {compile_s:.1f} s\n"
          f"the limit: one seed's {args.epochs} epochs at the float32 matmul peak "
          f"({peak / 1e9:.0f} GFLOP/s) take {bound_s:.2f} s, at best "
          f"{sklearn_s / bound_s:.1f}x faster than sklearn; after compilation JAX reaches "
          f"{figures['jax_1_seed_fraction_of_peak']:.0%} of the peak with 1 seed, "
          f"{figures[f'jax_{args.seeds}_seeds_fraction_of_peak']:.0%} with {args.seeds}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
