"""`fmnist`: the entry point; one module per subcommand."""


import importlib

from fmnist_jax.cli.options import OneLineParser, run_reporting_errors

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
