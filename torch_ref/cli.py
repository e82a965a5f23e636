"""`python -m torch_ref`: the same options and output as `fmnist torch`."""

from fmnist_jax.cli.options import OneLineParser, run_reporting_errors
from fmnist_jax.cli.torch_cmd import HELP, add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m torch_ref", description=HELP)
    add_arguments(parser)
    return run_reporting_errors(parser.prog, run, parser.parse_args(argv))
