"""`fmnist compare RUN_A RUN_B ...`: run directories side by side, with Welch's t-test."""

from pathlib import Path

HELP = ("compare run directories (e.g. `fmnist train` against `fmnist torch`) model by model: "
        "mean ± stdev of test accuracy and loss, their difference with its 95 percent CI, "
        "Welch's t-test, the study's published figures (beside runs of its protocol), a verdict "
        "at p < 0.05 with what it compares, and a plot")


def add_arguments(parser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="run directories; every later one is compared with the first")
    parser.add_argument("--out", type=Path,
                        help="directory for compare.md, compare.json and compare.png "
                             "(default runs/compare-<time>, beside the default run directories)")
    parser.add_argument("--force", action="store_true",
                        help="compare runs even when their protocols differ (training images, "
                             "patience, epochs cap, loss definition, ...), with a warning")


def run(args) -> int:
    from fmnist_jax.reporting.compare import compare, write_comparison
    from fmnist_jax.reporting.rundir import timestamped

    out = args.out or timestamped("compare")
    print(write_comparison(compare(args.run_dirs, force=args.force), out))
    print(f"wrote {out / 'compare.md'}, compare.json and compare.png")
    return 0
