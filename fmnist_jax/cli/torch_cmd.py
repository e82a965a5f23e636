"""`fmnist torch`: the PyTorch reference (`torch_ref`), with the same options as `fmnist train`."""

from torch_ref.cli import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
