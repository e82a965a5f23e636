"""The study's PyTorch reference: nn.Modules, DataLoader and torch.optim.Adam, importing no JAX.

It shares only the numpy-only pieces of `fmnist_jax` (protocol, data, config, run directory,
report), so it runs where JAX is not installed: `python -m torch_ref --model simple --seeds 6`.
"""

import importlib.util

from fmnist_jax.errors import ConfigError


def require_torch() -> None:
    """Raises a one-line ConfigError when PyTorch is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise ConfigError("PyTorch is not installed: pip install 'fmnist-jax[torch]'")
