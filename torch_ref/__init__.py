"""The study's PyTorch reference: nn.Modules, DataLoader and torch.optim.Adam, importing no JAX.

It shares only the numpy-only pieces of `fmnist_jax` (protocol, data, config, run directory,
report), so it runs where JAX is not installed: `python -m torch_ref --model simple --seeds 6`.
"""
