"""`fmnist sweep`: the study's scikit-learn MLPClassifier sweep, many seeds, resumable, with
either scikit-learn itself or its algorithm in JAX."""

import argparse
from pathlib import Path

from fmnist_jax.cli.options import add_data_options

HELP = ("reproduce the study's scikit-learn MLPClassifier sweep with K seeds per configuration "
        "(sklearn, parallel over joblib, or the same algorithm in JAX, seeds vmapped): "
        "resumable, our intervals beside the published figures")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true",
                        help="print the 20 configurations with the study's figures and exit")
    parser.add_argument("--configs", default="all",
                        help="comma-separated configuration names, or 'all' (default)")
    parser.add_argument("--engine", choices=("sklearn", "jax"), default="sklearn",
                        help="sklearn: MLPClassifier itself; jax: the same algorithm in JAX "
                             "(float32), a configuration's seeds in one program (default "
                             "%(default)s)")
    parser.add_argument("--seeds", type=int, default=1, metavar="K",
                        help="seeds per configuration: random_state seed, seed+1, ... "
                             "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="first random_state (the study did not seed; default 0)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="sklearn engine: fits in parallel (joblib); each gets cpu_count/N "
                             "BLAS threads, the longest (by the study's time) first (default 1; "
                             "with --dask, one a worker)")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="sklearn engine: run the fits on the Dask cluster whose scheduler "
                             "is at ADDRESS (tcp://HOST:PORT; workers of one thread each, "
                             "`dask worker ADDRESS --nworkers N --nthreads 1`), a fit a worker; "
                             "rows are written here as fits return (needs the dask extra)")
    parser.add_argument("--max-iter", type=int, metavar="N",
                        help="override every configuration's max_iter (the study's: 10000)")
    parser.add_argument("--tol", type=float,
                        help="override tol (default sklearn's 1e-4, as the study's code; its "
                             "prose says 0.001)")
    parser.add_argument("--train-subset", "--subset", type=int, metavar="N",
                        help="train on the first N of the 60000 training images, scaled like "
                             "all 60000 (quick runs; the test set stays whole)")
    parser.add_argument("--compare-with", type=Path, metavar="CSV",
                        help="another sweep's results.csv to show beside ours (its first seed "
                             "of each configuration), e.g. a single-seed sklearn sweep")
    add_data_options(parser)
    parser.add_argument("--out", help="results directory; re-running into it skips finished "
                                      "(configuration, seed) fits (default runs/sweep-<time>)")


def list_grid() -> str:
    from fmnist_jax.mlp.sweep import GRID

    lines = [f"{'name':<20} {'study acc':>9} {'study fit s':>11}  setting changed from base"]
    lines += [f"{c.name:<20} {c.published_accuracy:>9.4f} {c.published_fit_time_s:>11.1f}  "
              f"{c.describe()}" for c in GRID]
    lines.append(f"{len(GRID)} configurations; the study timed fit on 8 BLAS threads, the large "
                 "model 'about 4 minutes'")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(list_grid())
        return 0
    from fmnist_jax.data.sources import describe_source
    from fmnist_jax.mlp import sweep as sklearn_sweep
    from fmnist_jax.reporting import sweep_report
    from fmnist_jax.reporting.rundir import timestamped

    configs = sklearn_sweep.select(args.configs)
    out = Path(args.out or timestamped("sweep"))
    reference = None
    if args.compare_with:  # each configuration's first row
        rows = sklearn_sweep.read_results(args.compare_with)
        reference = list({row["name"]: row for row in reversed(rows)}.values())
    data = sklearn_sweep.load_data(args.data_dir, args.train_subset)
    source = describe_source("raw", args.data_dir)
    seeds = range(args.seed, args.seed + args.seeds)
    backend = f"Dask cluster at {args.dask}" if args.dask else None
    try:
        rows = sklearn_sweep.run_sweep(
            configs, data, out, engine=args.engine, seeds=seeds, n_jobs=args.n_jobs,
            max_iter=args.max_iter, tol=args.tol, log=lambda line: print(line, flush=True),
            on_row=lambda done: sweep_report.write_summary(out, done, plots=False,
                                                           reference_rows=reference, data=source,
                                                           backend=backend),
            dask_address=args.dask)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"the finished fits are in {out}/results.csv; run the same "
                                "command again to fit the rest") from None
    sweep_report.write_summary(out, rows, reference_rows=reference, data=source, backend=backend)
    print(f"wrote {out}/results.csv, summary.md, {sweep_report.ACCURACY_PNG} and the confusion "
          "heatmaps")
    return 0
