"""`fmnist`: one entry point, one module per subcommand (each imports its heavy parts lazily).

Every subcommand module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`, and
calls the Python API (`fmnist_jax.api`) for its work. Known user errors (bad data, bad
arguments) print one line and exit non-zero, no traceback.
"""
