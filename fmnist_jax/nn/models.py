"""The study's three networks in flax.linen, built from `protocol.ARCHITECTURES`.

Default initialisation reproduces PyTorch's for Linear and Conv2d: weights and biases uniform
in +-1/sqrt(fan_in). `torch_init=False` uses Flax's own defaults (LeCun normal, zero bias).
The CNN works on NHWC images and flattens in (H, W, C) order. The layers (`fmnist_jax.nn.layers`)
run as matmuls; `precision` picks the compute dtype and matmul precision of a training run.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from fmnist_jax.nn.layers import ConvPoolReLU, Dense
from fmnist_jax.protocol import IMAGE_SHAPE, NUM_CLASSES, Architecture, architecture

TORCH_KERNEL_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
# compute dtype and lax matmul precision of each `--precision`; parameters stay float32
COMPUTE = {"float32": (None, "highest"), "tf32": (None, "tensorfloat32"),
           "bf16": (jnp.bfloat16, "default")}


def torch_bias_init(fan_in: int):
    """PyTorch's bias initialisation: uniform in +-1/sqrt(fan_in)."""
    bound = 1 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Classifier(nn.Module):
    """ReLU conv blocks (3x3 same conv, ReLU, 2x2 max-pool), ReLU dense layers, 10 logits."""

    arch: Architecture
    torch_init: bool = True
    precision: str = "float32"
    conv_impl: str = "auto"

    def _layer(self, layer_cls, fan_in: int, **kwargs):
        if self.torch_init:
            kwargs |= {"kernel_init": TORCH_KERNEL_INIT, "bias_init": torch_bias_init(fan_in)}
        dtype, precision = COMPUTE[self.precision]
        return layer_cls(dtype=dtype, precision=precision, **kwargs)

    @nn.compact
    def __call__(self, images):
        x = images
        for i, channels in enumerate(self.arch.conv_channels):
            x = self._layer(ConvPoolReLU, 9 * x.shape[-1], features=channels,
                            impl=self.conv_impl, name=f"Conv_{i}")(x)  # checkpoints' names
        x = x.reshape((x.shape[0], -1))
        for width in self.arch.hidden:
            x = nn.relu(self._layer(Dense, x.shape[-1], features=width)(x))
        return self._layer(Dense, x.shape[-1], features=NUM_CLASSES)(x)


def build_model(name: str, torch_init: bool = True, precision: str = "float32",
                conv_impl: str = "auto") -> Classifier:
    """The named model (`simple`, `big` or `cnn`)."""
    return Classifier(architecture(name), torch_init=torch_init, precision=precision,
                      conv_impl=conv_impl)


def init_flax_params(model: nn.Module, key, image_shape: tuple[int, ...] = IMAGE_SHAPE):
    """Fresh parameters of a model (the study's or a user's) for images of `image_shape`."""
    return model.init(key, jnp.zeros((1, *image_shape)))["params"]


def param_count(params) -> int:
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
