"""The study's training protocol, defined once for every framework (numpy-only, no JAX).

The study's PyTorch protocol: three architectures, Adam at PyTorch's defaults, batches of 128,
and early stopping once the validation loss has not improved on its best for 30 epochs.

Both frameworks measure the same way: an epoch's train loss is the per-sample mean over its
mini-batches (the last batch of a 50000-image epoch holds 80 images and is kept, as PyTorch's
DataLoader does). Validation and test losses follow `EVAL_LOSSES`: "batch-mean" is the study's
code (the mean, over batches of 256 images in file order, of each batch's mean loss; the last of
10000 images holds 16), "sample-mean" the mean over images. The validation loss drives early
stopping, so the definition changes when runs stop. A non-finite train or validation loss stops
the run as "diverged".
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
EVAL_LOSSES = ("batch-mean", "sample-mean")
STUDY_EVAL_BATCH = 256


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
MODEL_NAMES = tuple(ARCHITECTURES)  # the study's models, in its order: every list of them


@dataclass(frozen=True)
class LayerSpec:
    """One weight layer of an Architecture, as its shape arithmetic needs it."""

    kind: str  # "conv" (3x3, same padding, followed by 2x2 max-pooling) or "dense"
    fan_in: int  # inputs of one output unit: 9 x input channels for a conv
    features: int  # output channels or units
    positions: int  # output positions the kernel is applied at: H x W for a conv, 1 for dense

    @property
    def params(self) -> int:
        return self.fan_in * self.features + self.features

    @property
    def multiply_adds(self) -> int:
        """Per image, forward."""
        return self.positions * self.fan_in * self.features


def layer_specs(arch: Architecture) -> list[LayerSpec]:
    """The shapes of the weight layers of `arch` in order, the last one giving the 10 logits
    (the modules that build them: `fmnist_jax.nn.layers`, `torch_ref.models`)."""
    height, width, channels = IMAGE_SHAPE
    result = []
    for out in arch.conv_channels:
        result.append(LayerSpec("conv", 9 * channels, out, height * width))
        height, width, channels = height // 2, width // 2, out
    features = height * width * channels
    for out in (*arch.hidden, NUM_CLASSES):
        result.append(LayerSpec("dense", features, out, 1))
        features = out
    return result


def conv_output_chw(arch: Architecture) -> tuple[int, int, int]:
    """(channels, height, width) after the last conv block (the input if there is none)."""
    height, width, channels = IMAGE_SHAPE
    shrink = 2 ** len(arch.conv_channels)
    return (arch.conv_channels[-1] if arch.conv_channels else channels), height // shrink, width // shrink


def forward_flops(arch: Architecture) -> int:
    """Floating-point operations of one image's forward pass (2 per multiply-add)."""
    return 2 * sum(layer.multiply_adds for layer in layer_specs(arch))


def architecture(name: str) -> Architecture:
    """Looks an architecture up by name, with a clear error for an unknown one."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}")
    return ARCHITECTURES[name]


def eval_loss_weights(n: int, definition: str) -> np.ndarray:
    """Per-image weights (float64) whose dot product with the per-image losses of a set of `n`
    images, in file order, is its evaluation loss under `definition` (see EVAL_LOSSES)."""
    if definition == "sample-mean":
        return np.full(n, 1 / n)
    if definition != "batch-mean":
        raise ValueError(f"unknown loss definition {definition!r}: one of {EVAL_LOSSES}")
    batch = np.arange(n) // STUDY_EVAL_BATCH
    sizes = np.bincount(batch)
    return 1 / (len(sizes) * sizes[batch])


def early_stopping_update(best_loss, wait, val_loss, xp=np):
    """One epoch of the study's rule: a strictly lower validation loss resets the wait.

    Works on Python floats, numpy and jax.numpy alike (pass `xp=jax.numpy` when tracing).
    Returns the new (best_loss, wait); `wait == 0` means the epoch improved on the best, and
    training stops once `wait >= patience`.
    """
    improved = val_loss < best_loss
    return xp.where(improved, val_loss, best_loss), xp.where(improved, 0, wait + 1)


def should_stop(wait, epoch, patience: int, max_epochs: int):
    """The study's stopping condition after `epoch` completed epochs."""
    return (wait >= patience) | (epoch >= max_epochs)
