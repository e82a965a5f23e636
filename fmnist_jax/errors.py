"""The two errors a user sees as one line (the CLI prints them without a traceback)."""


class ConfigError(ValueError):
    """A setting or argument that cannot run, worded as one line."""


class DataError(Exception):
    """A data problem, worded as one line that names the file and says what to do."""
