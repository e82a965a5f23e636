"""Neural networks in Flax: layers, the three models, the jitted protocol (`train`), the
vmapped and sharded runner, checkpoints, and the JAX <-> PyTorch weight conversion and check."""
