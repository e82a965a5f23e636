"""`fmnist`: one entry point, one module per subcommand (each imports its heavy parts lazily).

Every subcommand module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`.
Known user errors (bad data, bad arguments) print one line and exit non-zero, no traceback.
"""

import argparse
import importlib
import sys

from fmnist_jax.config import ConfigError
from fmnist_jax.data import DataError

SUBCOMMANDS = ("train", "evaluate", "data", "torch", "crosscheck", "compare", "sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmnist", description="Train, compare and check Fashion-MNIST classifiers "
                                   "in JAX, PyTorch and scikit-learn.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"fmnist_jax.cli.{name}_cmd")
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run_reporting_errors(f"fmnist {args.command}", args.run, args)


def run_reporting_errors(prog: str, run, args) -> int:
    """Runs a command; data and configuration errors become one line and an exit code."""
    try:
        return run(args)
    except (DataError, ConfigError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
