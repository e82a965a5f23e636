"""The study's training protocol, defined once for every framework (numpy-only, no JAX).

SEED.md section 2: three architectures, Adam at PyTorch's defaults, batches of 128, and early
stopping once the mean validation loss has not improved on its best for 30 epochs.

Both frameworks measure the same way: an epoch's train loss is the per-sample mean over its
mini-batches (the last batch of a 50000-image epoch holds 80 images and is kept, as PyTorch's
DataLoader does); validation and test losses are per-sample means over the whole set. A
non-finite train or validation loss stops the run as "diverged".
"""

from dataclasses import dataclass

import numpy as np

NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
BATCH_SIZE = 128
PATIENCE = 30
MAX_EPOCHS = 1000
LEARNING_RATE = 1e-3
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class Architecture:
    """A ReLU network: optional 3x3 same-padded conv layers (each followed by 2x2 max-pooling),
    then fully connected hidden layers, then a linear layer to the 10 classes."""

    conv_channels: tuple[int, ...]
    hidden: tuple[int, ...]


ARCHITECTURES = {
    "simple": Architecture(conv_channels=(), hidden=(784, 784)),
    "big": Architecture(conv_channels=(), hidden=(784,) * 5),
    "cnn": Architecture(conv_channels=(32, 1024), hidden=(784, 784)),
}


def architecture(name: str) -> Architecture:
    """Looks an architecture up by name, with a clear error for an unknown one."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def early_stopping_update(best_loss, wait, val_loss, xp=np):
    """One epoch of the study's rule: a strictly lower validation loss resets the wait.

    Works on Python floats, numpy and jax.numpy alike (pass `xp=jax.numpy` when tracing).
    Returns the new (best_loss, wait); training stops once `wait >= patience`.
    """
    improved = val_loss < best_loss
    return xp.where(improved, val_loss, best_loss), xp.where(improved, 0, wait + 1)


def should_stop(wait, epoch, patience: int, max_epochs: int):
    """The study's stopping condition after `epoch` completed epochs."""
    return (wait >= patience) | (epoch >= max_epochs)
