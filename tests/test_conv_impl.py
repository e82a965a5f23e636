"""The CNN's convolution per backend: patches matmuls on XLA's CPU (fast in the compiled loop),
XLA's own convolution elsewhere, and the two agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.nn import layers
from fmnist_jax.nn.layers import ConvPoolReLU, conv_impl, weight_grad
from fmnist_jax.nn.models import build_model, init_flax_params
from fmnist_jax.nn.train import device_data, make_train


@pytest.mark.parametrize("backend, expected", [("cpu", "patches"), ("gpu", "lax"),
                                               ("tpu", "lax")])
def test_auto_picks_the_conv_of_the_backend(monkeypatch, backend, expected):
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    assert conv_impl("auto") == expected
    assert conv_impl("patches") == "patches" and conv_impl("lax") == "lax"


def test_an_unknown_conv_implementation_is_an_error_not_a_fallback():
    with pytest.raises(ValueError, match="unknown conv implementation 'cudnn'"):
        ConvPoolReLU(features=4, impl="cudnn").init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 1)))


def test_the_bf16_weight_gradient_transposes_its_input_only_on_the_cpu(monkeypatch):
    def traced(batch: int) -> str:  # a new shape each time: traces are cached by shape
        x, g = jnp.ones((batch, 4), jnp.bfloat16), jnp.ones((batch, 3), jnp.bfloat16)
        return str(jax.make_jaxpr(weight_grad)(x, g))

    assert "concatenate" in traced(8)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert "concatenate" not in traced(6)


def test_lax_and_patches_give_the_cnns_logits_and_gradients_in_float32():
    images = jax.random.uniform(jax.random.PRNGKey(1), (4, 28, 28, 1))
    labels = jnp.arange(4)
    patches, lax = build_model("cnn", conv_impl="patches"), build_model("cnn", conv_impl="lax")
    params = init_flax_params(patches, jax.random.PRNGKey(0))

    def loss(model, p):
        logits = model.apply({"params": p}, images)
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1).mean()

    with jax.default_matmul_precision("highest"):
        np.testing.assert_allclose(patches.apply({"params": params}, images),
                                   lax.apply({"params": params}, images), rtol=1e-4, atol=1e-5)
        grads = [jax.grad(loss, argnums=1)(model, params) for model in (patches, lax)]
    for a, b in zip(*map(jax.tree_util.tree_leaves, grads)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6 * float(np.abs(b).max()))


def compiled_cnn_loop(conv: str) -> str:
    """The optimised HLO of the CNN's compiled training loop (one epoch on a few images)."""
    config = TrainConfig(model="cnn", conv=conv, batch_size=8, eval_batch_size=8,
                         max_epochs=1, progress=False)
    data = device_data(synthetic_split(n_train=16, n_val=8, n_test=8), config)
    trainer = make_train(config)
    state = jax.eval_shape(trainer.init, jax.random.PRNGKey(0), 1e-3)
    return jax.jit(trainer.advance).lower(state, data, 1).compile().as_text()


def test_the_cnns_compiled_cpu_training_loop_has_no_convolution():
    """The guard against XLA's CPU convolution in a loop (a 39 s step, jax-ml/jax#12868)."""
    assert layers.on_cpu()
    assert " convolution(" not in compiled_cnn_loop("auto")
    assert " convolution(" in compiled_cnn_loop("lax")  # the check can see one
