"""Fashion-MNIST classifiers in JAX, checked against PyTorch and scikit-learn.

The Python API (imported lazily, so `import fmnist_jax` stays fast and needs no JAX):

    from fmnist_jax import TrainConfig, train_jax, train_torch, compare_runs, Study, run_study
    run = train_jax(TrainConfig(model="simple", seeds=4, max_epochs=3))   # JAX, 4 seeds, one program
    print(run.summary["markdown"])

`fmnist_jax.data` and `fmnist_jax.protocol` are numpy-only, so the PyTorch reference shares them
without JAX installed.
"""

import importlib

__version__ = "0.3.0"

_EXPORTS = {
    "TrainConfig": "fmnist_jax.config", "ConfigError": "fmnist_jax.errors",
    "load_split": "fmnist_jax.api", "train_jax": "fmnist_jax.api", "train_torch": "fmnist_jax.api",
    "resume": "fmnist_jax.api", "evaluate": "fmnist_jax.api", "Run": "fmnist_jax.api",
    "summarize": "fmnist_jax.reporting.run_report",
    "compare_runs": ("fmnist_jax.reporting.compare", "compare"),
    "comparison_markdown": ("fmnist_jax.reporting.compare", "markdown"),
    "Study": "fmnist_jax.study", "run_study": "fmnist_jax.study",
    "Split": "fmnist_jax.data.split", "synthetic_split": "fmnist_jax.data.split",
    "DataError": "fmnist_jax.errors",
}
__all__ = ["ConfigError", "DataError", "Run", "Split", "Study", "TrainConfig", "compare_runs",
           "comparison_markdown", "evaluate", "load_split", "resume", "run_study", "summarize", "synthetic_split", "train_jax",
           "train_torch"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fmnist_jax' has no attribute {name!r}")
    module, attribute = _EXPORTS[name] if isinstance(_EXPORTS[name], tuple) else (_EXPORTS[name], name)
    return getattr(importlib.import_module(module), attribute)
