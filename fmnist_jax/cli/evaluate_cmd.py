"""`fmnist evaluate RUN_DIR`: reload a finished run's saved parameters and test them again."""

from pathlib import Path

from fmnist_jax.cli.options import add_data_options

HELP = ("reload a finished run directory's parameters (JAX or torch_ref) and re-test them: "
        "correct test images now against results.json, exactly; exits 1 on any difference")


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a directory written by `fmnist train` or `fmnist torch`")
    add_data_options(parser)


def run(args) -> int:
    from fmnist_jax.api import evaluate

    rows = evaluate(args.run_dir, args.data_dir)
    print("  seed        lr  correct now  correct (results.json)  test acc  test loss now")
    for row in rows:
        print(f"{row['seed']:6d} {row['learning_rate']:9.2g} {row['correct']:12d} "
              f"{row['recorded_correct']:23d} {row['correct'] / row['total']:9.4f} "
              f"{row['loss']:14.4f}")
    differing = [row for row in rows if row["correct"] != row["recorded_correct"]]
    if differing:
        print(f"mismatch: {len(differing)} run(s) classify a different number of test images "
              "than results.json records")
        return 1
    print(f"all {len(rows)} run(s) reproduce their recorded test results")
    return 0
