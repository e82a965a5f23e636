"""`fmnist compare RUN_A RUN_B ...`: run directories side by side, with Welch's t-test."""

from pathlib import Path

HELP = ("compare run directories (e.g. `fmnist train` against `fmnist torch`) model by model: "
        "mean ± stdev of test accuracy and loss, their difference with its 95 percent CI, "
        "Welch's t-test, the study's published figures, a verdict at p < 0.05, and a plot")


def add_arguments(parser) -> None:
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="run directories; every later one is compared with the first")
    parser.add_argument("--out", type=Path,
                        help="directory for compare.md, compare.json and compare.png "
                             "(default runs/compare-<time>, beside the default run directories)")


def run(args) -> int:
    from datetime import datetime

    from fmnist_jax.compare import compare, json_safe, markdown, plot
    from fmnist_jax.rundir import write_atomic, write_json

    comparison = compare(args.run_dirs)
    out = args.out or Path("runs") / f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(comparison)
    write_atomic(out / "compare.md", text.encode())
    write_json(out / "compare.json", json_safe(comparison))
    plot(comparison, out / "compare.png")
    print(text)
    print(f"wrote {out / 'compare.md'}, compare.json and compare.png")
    return 0
