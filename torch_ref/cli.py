"""The PyTorch reference's command line, shared by `python -m torch_ref` and `fmnist torch`."""

import argparse

from fmnist_jax.cli.options import (
    OneLineParser,
    add_training_options,
    run_reporting_errors,
    run_training,
)
from torch_ref import require_torch

HELP = ("train the PyTorch reference (torch_ref) by the study's protocol, one seed after "
        "another, into a run directory like `fmnist train` writes (needs the torch extra)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_options(parser)


def run(args: argparse.Namespace) -> int:
    """Trains (or resumes) and writes the run directory; a missing PyTorch is a one-line error."""
    require_torch()
    return run_training("torch", args)


def main(argv: list[str] | None = None) -> int:
    """`python -m torch_ref`: the same options and output as `fmnist torch`."""
    parser = OneLineParser(prog="python -m torch_ref", description=HELP)
    add_arguments(parser)
    return run_reporting_errors(parser.prog, run, parser.parse_args(argv))
