"""Fashion-MNIST classifiers in JAX, checked against PyTorch and scikit-learn.

Importing the package imports nothing heavy: `fmnist_jax.data` and `fmnist_jax.protocol` are
numpy-only so that the PyTorch reference can share them without JAX installed.
"""

__version__ = "0.1.0"
