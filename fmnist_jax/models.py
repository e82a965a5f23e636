"""The study's three networks in flax.linen, built from `protocol.ARCHITECTURES`.

Default initialisation reproduces PyTorch's for Linear and Conv2d: weights and biases uniform
in +-1/sqrt(fan_in). `torch_init=False` uses Flax's own defaults (LeCun normal, zero bias).
The CNN works on NHWC images and flattens in (H, W, C) order.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from fmnist_jax.protocol import IMAGE_SHAPE, NUM_CLASSES, Architecture, architecture

TORCH_KERNEL_INIT = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def torch_bias_init(fan_in: int):
    """PyTorch's bias initialisation: uniform in +-1/sqrt(fan_in)."""
    bound = 1 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Classifier(nn.Module):
    """ReLU convs (3x3, same padding, 2x2 max-pool) then ReLU dense layers, then 10 logits."""

    arch: Architecture
    torch_init: bool = True
    dtype: jnp.dtype | None = None

    def _layer(self, layer_cls, fan_in: int, **kwargs):
        if self.torch_init:
            kwargs |= {"kernel_init": TORCH_KERNEL_INIT, "bias_init": torch_bias_init(fan_in)}
        return layer_cls(dtype=self.dtype, **kwargs)

    @nn.compact
    def __call__(self, images):
        x = images
        for channels in self.arch.conv_channels:
            conv = self._layer(nn.Conv, 9 * x.shape[-1], features=channels,
                               kernel_size=(3, 3), padding=1)
            x = nn.max_pool(nn.relu(conv(x)), (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        for width in self.arch.hidden:
            x = nn.relu(self._layer(nn.Dense, x.shape[-1], features=width)(x))
        return self._layer(nn.Dense, x.shape[-1], features=NUM_CLASSES)(x)


def build_model(name: str, torch_init: bool = True, dtype=None) -> Classifier:
    """The named model (`simple`, `big` or `cnn`)."""
    return Classifier(architecture(name), torch_init=torch_init, dtype=dtype)


def init_params(model: Classifier, key):
    """The model's parameters for one image batch shape."""
    return model.init(key, jnp.zeros((1, *IMAGE_SHAPE)))["params"]


def param_count(params) -> int:
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
