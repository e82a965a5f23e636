"""`fmnist`: one entry point, one module per subcommand (each imports its heavy parts lazily).

Every subcommand module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`, and
calls the Python API (`fmnist_jax.api`) for its work. Known user errors (bad data, bad
arguments) print one line and exit non-zero, no traceback.
"""

import importlib
import sys

from fmnist_jax.cli.options import OneLineParser
from fmnist_jax.config import ConfigError
from fmnist_jax.data import DataError

SUBCOMMANDS = ("study", "train", "torch", "evaluate", "compare", "crosscheck", "sweep", "data")


def build_parser() -> tuple[OneLineParser, dict[str, OneLineParser]]:
    parser = OneLineParser(
        prog="fmnist", description="Train, compare and check Fashion-MNIST classifiers "
                                   "in JAX, PyTorch and scikit-learn.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=OneLineParser)
    subparsers = {}
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"fmnist_jax.cli.{name}_cmd")
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
        subparsers[name] = sub
    return parser, subparsers


def main(argv=None) -> int:
    parser, subparsers = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand, whose --help lists its options
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    return run_reporting_errors(f"fmnist {args.command}", args.run, args)


def run_reporting_errors(prog: str, run, args) -> int:
    """Runs a command; data and configuration errors become one line and an exit code."""
    try:
        return run(args)
    except (DataError, ConfigError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    except KeyboardInterrupt as interrupt:
        hint = str(interrupt) or "nothing was recorded for the work in progress"
        print(f"{prog}: interrupted; {hint}", file=sys.stderr)
        return 130
