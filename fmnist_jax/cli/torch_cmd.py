"""`fmnist torch`: the PyTorch reference (`torch_ref`), with the same options as `fmnist train`
(also `python -m torch_ref`)."""

import argparse

from fmnist_jax.cli.options import add_training_options, run_training

HELP = ("train the PyTorch reference (torch_ref) by the study's protocol, one seed after "
        "another, into a run directory like `fmnist train` writes (needs the torch extra)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_options(parser)


def run(args: argparse.Namespace) -> int:
    """Trains (or resumes) and writes the run directory; a missing PyTorch is a one-line error
    (from the API)."""
    return run_training("torch", args)
