"""`fmnist sweep`: the study's scikit-learn MLPClassifier sweep, parallel and resumable."""

import argparse
import time

HELP = ("reproduce the study's scikit-learn MLPClassifier sweep: parallel, resumable, "
        "our figures beside the published ones")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true",
                        help="print the 20 configurations with the study's figures and exit")
    parser.add_argument("--configs", default="all",
                        help="comma-separated configuration names, or 'all' (default)")
    parser.add_argument("--n-jobs", type=int, default=1,
                        help="configurations fitted in parallel; each fit gets cpu_count/N BLAS "
                             "threads, and the longest (by the study's time) start first "
                             "(default 1)")
    parser.add_argument("--max-iter", type=int,
                        help="override every configuration's max_iter (the study's: 10000)")
    parser.add_argument("--tol", type=float,
                        help="override tol (default sklearn's 1e-4, as the study's code; its "
                             "prose says 0.001)")
    parser.add_argument("--subset", type=int, metavar="N",
                        help="train on the first N training images, scaled like all 60000 "
                             "(quick runs; the test set stays whole)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random_state of every MLPClassifier (the study did not seed; "
                             "default 0)")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files "
                                           "(default $FMNIST_DATA_DIR, else the user cache)")
    parser.add_argument("--out", help="results directory; re-running into it skips finished "
                                      "configurations (default runs/sklearn-sweep-<time>)")


def list_grid() -> str:
    from fmnist_jax.sklearn_sweep import GRID

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
    from fmnist_jax import sklearn_sweep, sweep_report

    configs = sklearn_sweep.select(args.configs)
    out = args.out or time.strftime("runs/sklearn-sweep-%Y%m%d-%H%M%S")
    data = sklearn_sweep.load_data(args.data_dir, args.subset)
    rows = sklearn_sweep.run_sweep(
        configs, data, out, n_jobs=args.n_jobs, seed=args.seed, max_iter=args.max_iter,
        tol=args.tol, log=lambda line: print(line, flush=True),
        on_row=lambda done: sweep_report.write_summary(out, done, plots=False))
    sweep_report.write_summary(out, rows)
    print(f"wrote {out}/results.csv, summary.md, {sweep_report.ACCURACY_PNG}, "
          f"{sweep_report.CONFUSION_PNG}")
    return 0
