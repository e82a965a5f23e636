"""The three Flax models: parameter counts, output shapes, PyTorch-style initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fmnist_jax.nn.models import build_model, init_flax_params, param_count

PYTORCH_PARAM_COUNTS = {"simple": 1_238_730, "big": 3_085_050, "cnn": 40_258_314}


@pytest.mark.parametrize("name", PYTORCH_PARAM_COUNTS)
def test_parameter_count_equals_the_pytorch_model(name):
    model = build_model(name)
    shapes = jax.eval_shape(lambda key: init_flax_params(model, key),
                            jax.random.PRNGKey(0))
    assert param_count(shapes) == PYTORCH_PARAM_COUNTS[name]


@pytest.mark.parametrize("name", ["simple", "big", "cnn"])
def test_logits_have_one_row_per_image_and_ten_classes(name):
    model = build_model(name)
    params = init_flax_params(model, jax.random.PRNGKey(0))
    assert model.apply({"params": params}, jnp.zeros((3, 28, 28, 1))).shape == (3, 10)


@pytest.mark.parametrize("name", ["simple", "cnn"])
def test_default_init_is_uniform_within_one_over_sqrt_fan_in(name):
    params = init_flax_params(build_model(name), jax.random.PRNGKey(1))
    for layer in params.values():
        kernel = np.asarray(layer["kernel"])
        bound = 1 / np.sqrt(np.prod(kernel.shape[:-1]))
        for values in (kernel, np.asarray(layer["bias"])):
            assert np.abs(values).max() <= bound
        assert np.abs(kernel).max() > 0.95 * bound  # uniform fills its range, unlike a normal


def test_flax_init_option_gives_zero_biases():
    params = init_flax_params(build_model("simple", torch_init=False), jax.random.PRNGKey(0))
    assert all(float(jnp.abs(layer["bias"]).max()) == 0 for layer in params.values())


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")
