"""What a training run trains: one of the study's three networks, or a user's own Flax module.

A user's module maps an NHWC batch to logits, `(batch, classes)`. Everything about it comes
from the module and the data, never from a name: the image shape from the split, the number of
classes from the logits (`jax.eval_shape`, no compute), and the memory estimate from the shapes
of its parameters and of every layer's output. It is recorded as what it is (class, parameter
count, the arrays' shapes and checksum) and never set beside the study's published rows.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import Split, split_record
from fmnist_jax.errors import ConfigError
from fmnist_jax.nn.models import build_model, init_flax_params, param_count
from fmnist_jax.nn.user_conv import fast_apply


class Network(NamedTuple):
    """A Flax module with the shapes a run needs: `own` marks a user's module, whose `nn.Conv`
    layers run as `conv` picks (`layers.conv_impl`: patch matmuls on the CPU by default)."""

    module: nn.Module
    image_shape: tuple[int, ...]  # one image, (height, width, channels)
    num_classes: int
    own: bool
    conv: str = "auto"

    def apply(self, params, images):
        """The logits of `images`. A user's `nn.Conv` layers compute through
        `user_conv.fast_apply` (XLA's CPU convolutions are slow inside the training loop,
        jax-ml/jax#12868); the study's models carry their conv implementation themselves."""
        apply = fast_apply(self.module, self.conv) if self.own else self.module.apply
        return apply({"params": params}, images)


def study_network(config: TrainConfig) -> Network:
    """The study's network `config.model`, in the config's precision and conv implementation."""
    module = build_model(config.model, config.torch_init, config.precision, config.conv)
    return Network(module, protocol.IMAGE_SHAPE, protocol.NUM_CLASSES, own=False)


def own_network(module: nn.Module, split: Split, conv: str = "auto") -> Network:
    """A user's module checked against the split: it must take the split's images and give one
    logit per class for every label the split holds (a one-line ConfigError otherwise)."""
    if not isinstance(module, nn.Module):
        raise ConfigError(f"model must be a flax.linen.Module instance, got {type(module).__name__}")
    image_shape = tuple(split.x_train.shape[1:])
    name = type(module).__name__
    images = jnp.zeros((2, *image_shape), jnp.float32)
    try:
        variables = jax.eval_shape(module.init, jax.random.PRNGKey(0), images)
    except Exception as error:  # the user's module, any failure: say where it came from
        raise ConfigError(f"{name} cannot take a batch of the split's {image_shape} images: "
                          f"{type(error).__name__}: {_first_line(error)}") from error
    if set(variables) != {"params"}:
        raise ConfigError(f"{name} keeps variables besides its parameters "
                          f"({', '.join(sorted(set(variables) - {'params'}))}, e.g. BatchNorm "
                          "statistics); the loop trains modules whose only variables are 'params'")
    try:  # as the loop calls it: parameters only, no RNG
        logits = jax.eval_shape(lambda v: module.apply(v, images), variables)
    except Exception as error:
        raise ConfigError(f"{name} cannot be applied with its parameters alone, as the loop "
                          f"applies it (no RNG, e.g. for dropout, and no mutable state): "
                          f"{type(error).__name__}: {_first_line(error)}") from error
    if logits.ndim != 2 or logits.shape[0] != 2:
        raise ConfigError(f"{type(module).__name__} must map a batch of images to logits of shape "
                          f"(batch, classes); a batch of 2 gave {logits.shape}")
    labels = max(int(np.max(y)) for y in (split.y_train, split.y_val, split.y_test)) + 1
    if logits.shape[1] < labels:
        raise ConfigError(f"{type(module).__name__} gives {logits.shape[1]} logits, but the "
                          f"split's labels run to {labels - 1}")
    return Network(module, image_shape, int(logits.shape[1]), own=True, conv=conv)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def memory_per_run_bytes(network: Network, config: TrainConfig) -> int:
    """Estimated device memory of one run, from shapes alone (`jax.eval_shape`): parameters,
    gradients and Adam's two moments (and the best parameters with restore_best), plus every
    layer's output for a training batch (twice: kept for the backward pass) and an evaluation
    chunk."""
    def outputs_of(batch: int):
        images = jnp.zeros((batch, *network.image_shape), jnp.float32)
        return network.module.init_with_output(jax.random.PRNGKey(0), images,
                                               capture_intermediates=True)

    def nbytes(tree) -> int:
        return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(tree))

    (_, variables) = jax.eval_shape(lambda: outputs_of(1))
    params = nbytes(variables["params"])
    per_image = nbytes(variables.get("intermediates", {}))
    copies = 5 if config.restore_best else 4
    return copies * params + per_image * (2 * config.batch_size + config.eval_batch_size)


def describe(network: Network, split: Split) -> dict:
    """What an own-model run records: the module's class and parameter count, and the arrays
    it trained and was tested on (shapes, dtypes, sha256 of their bytes)."""
    params = jax.eval_shape(lambda: init_flax_params(network.module, jax.random.PRNGKey(0),
                                                network.image_shape))
    module = type(network.module)
    return {"module": f"{module.__module__}.{module.__qualname__}",
            "params": param_count(params), "classes": network.num_classes,
            "data": split_record(split)}
