"""The PyTorch reference's command line, shared by `python -m torch_ref` and `fmnist torch`."""

import argparse

from fmnist_jax.cli import run_reporting_errors
from fmnist_jax.cli.options import add_training_options, config_from_args
from fmnist_jax.data import load_source, study_split
from fmnist_jax.rundir import new_run_dir
from torch_ref import require_torch

HELP = ("train the PyTorch reference (torch_ref) by the study's protocol, one seed after "
        "another, into a run directory like `fmnist train` writes (needs the torch extra)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_options(parser)
    parser.add_argument("--eval-batch-size", type=int, default=1000,
                        help="images per evaluation batch (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Trains and writes the run directory; a missing PyTorch is a one-line ConfigError."""
    require_torch()
    from fmnist_jax.report import runs_table
    from torch_ref.train import train_and_evaluate

    config = config_from_args(args, eval_batch_size=args.eval_batch_size)
    out = new_run_dir(args.out, "torch", config.model)
    split = study_split(load_source(config.source, args.data_dir, config.progress))
    config.validate(n_train=len(split.y_train))
    results, summary = train_and_evaluate(config, split, out)
    print(runs_table(results))
    print()
    print(summary["markdown"])
    print(f"run directory: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m torch_ref`: the same options and output as `fmnist torch`."""
    parser = argparse.ArgumentParser(prog="python -m torch_ref", description=HELP)
    add_arguments(parser)
    return run_reporting_errors(parser.prog, run, parser.parse_args(argv))
