"""The two errors a user sees as one line (the CLI prints them without a traceback), and the
check for the optional PyTorch."""

import importlib.util


class ConfigError(ValueError):
    """A setting or argument that cannot run, worded as one line."""


class DataError(Exception):
    """A data problem, worded as one line that names the file and says what to do."""


def require_torch() -> None:
    """Raises a one-line ConfigError when PyTorch (the `torch` extra) is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise ConfigError("PyTorch is not installed: pip install 'fmnist-jax[torch]'")
