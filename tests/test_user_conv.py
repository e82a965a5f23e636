"""A user's nn.Conv as patches times a matmul: nn.Conv's parameters and numbers, no convolution
left in the compiled CPU training loop, forward mode through it."""

import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fmnist_jax.nn.user_conv import (
    PatchesConv,
    SlowConvWarning,
    convolutions,
    fast_apply,
    patch_convs,
)

SETTINGS = {
    "3x3 same": {"kernel_size": (3, 3)},
    "5x3 valid, stride 2": {"kernel_size": (5, 3), "strides": 2, "padding": "VALID"},
    "explicit pairs, dilation": {"kernel_size": (3, 3), "padding": ((1, 2), (0, 3)),
                                 "kernel_dilation": (2, 1)},
    "int padding, stride (2, 1)": {"kernel_size": (2, 2), "padding": 1, "strides": (2, 1)},
    "same, even kernel, stride 3": {"kernel_size": (4, 4), "strides": 3},
    "circular": {"kernel_size": (3, 3), "padding": "CIRCULAR"},
    "no bias": {"kernel_size": (3, 3), "use_bias": False},
    "1-d causal": {"kernel_size": (3,), "padding": "CAUSAL"},
    "1-d int kernel, no batch dim": {"kernel_size": 3},
}


def images(shape, seed=1):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


def input_shape(settings):
    if isinstance(settings["kernel_size"], int):
        return (9, 3)
    return (2, 9, 3) if len(settings["kernel_size"]) == 1 else (2, 11, 10, 3)


@pytest.mark.parametrize("name", SETTINGS)
def test_patches_conv_has_nn_convs_parameters_output_and_gradients(name):
    settings = SETTINGS[name]
    x = images(input_shape(settings))
    plain, ours = nn.Conv(4, **settings), PatchesConv(4, impl="patches", **settings)
    params = plain.init(jax.random.PRNGKey(0), x)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(
        np.array_equal, ours.init(jax.random.PRNGKey(0), x), params))

    def loss(module, params, x):
        return jnp.sum(jnp.sin(module.apply(params, x)))

    np.testing.assert_allclose(ours.apply(params, x), plain.apply(params, x), rtol=1e-5,
                               atol=1e-5)
    expected = jax.grad(loss, argnums=(1, 2))(plain, params, x)
    for a, b in zip(*map(jax.tree_util.tree_leaves,
                         (jax.grad(loss, argnums=(1, 2))(ours, params, x), expected))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("settings", [{"feature_group_count": 3},
                                      {"input_dilation": 2, "padding": 1}])
def test_a_setting_the_patches_do_not_compute_runs_as_nn_conv_with_a_warning(settings):
    x = images((2, 6, 6, 3))
    plain, ours = nn.Conv(3, (3, 3), **settings), PatchesConv(3, (3, 3), impl="patches", **settings)
    params = plain.init(jax.random.PRNGKey(0), x)
    with pytest.warns(SlowConvWarning, match="runs XLA's convolution"):
        np.testing.assert_array_equal(ours.apply(params, x), plain.apply(params, x))


class UserCNN(nn.Module):
    """A CNN as a user writes it, with nothing from this project."""

    @nn.compact
    def __call__(self, x):
        x = nn.max_pool(nn.relu(nn.Conv(8, (3, 3))(x)), (2, 2), (2, 2))
        x = nn.relu(nn.Conv(8, (3, 3), strides=2, padding="VALID")(x))
        return nn.Dense(10)(x.reshape((x.shape[0], -1)))


def training_loop(apply):
    """A few Adam steps in `lax.scan`, as a training loop runs them."""
    optimizer = optax.adam(1e-3)

    def loss(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply({"params": params}, x),
                                                               y).mean()

    def train(params, xs, ys):
        def step(carry, batch):
            params, opt_state = carry
            updates, opt_state = optimizer.update(jax.grad(loss)(params, *batch), opt_state)
            return (optax.apply_updates(params, updates), opt_state), None
        return jax.lax.scan(step, (params, optimizer.init(params)), (xs, ys))[0][0]

    return train


def user_data():
    xs = images((3, 8, 12, 12, 1))
    ys = jax.random.randint(jax.random.PRNGKey(2), (3, 8), 0, 10)
    return UserCNN().init(jax.random.PRNGKey(0), xs[0])["params"], xs, ys


def test_a_user_cnn_trains_to_the_same_params_through_fast_apply():
    model, (params, xs, ys) = UserCNN(), user_data()
    plain = jax.jit(training_loop(model.apply))(params, xs, ys)
    ours = jax.jit(training_loop(fast_apply(model)))(params, xs, ys)
    for a, b in zip(*map(jax.tree_util.tree_leaves, (ours, plain))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_user_cnns_compiled_cpu_training_loop_has_no_convolution_through_fast_apply():
    """The guard against XLA's CPU convolution in a loop (jax-ml/jax#12868)."""
    assert jax.default_backend() == "cpu"
    model, data = UserCNN(), user_data()

    def compiled(apply) -> str:
        return jax.jit(training_loop(apply)).lower(*data).compile().as_text()

    assert " convolution(" not in compiled(fast_apply(model))
    assert " convolution(" in compiled(model.apply)  # the check can see one



def test_a_user_cnns_training_loop_vmapped_over_seeds_has_no_convolution_through_fast_apply():
    """Under vmap, per-seed kernels would make XLA's convolution a grouped one; the patches make
    a batched matmul."""
    model, (params, xs, ys) = UserCNN(), user_data()
    seeds = jax.tree_util.tree_map(lambda leaf: jnp.stack([leaf, 2 * leaf]), params)
    train = jax.jit(jax.vmap(training_loop(fast_apply(model)), (0, None, None)))
    assert " convolution(" not in train.lower(seeds, xs, ys).compile().as_text()

def test_convolutions_names_the_modules_left_with_one():
    class Mixed(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(4, (3, 3), name="grouped", feature_group_count=2)(nn.Conv(4, (3, 3))(x))

    x = images((1, 6, 6, 2))
    params = Mixed().init(jax.random.PRNGKey(0), x)
    with pytest.warns(SlowConvWarning, match="grouped: nn.Conv with feature_group_count=2"):
        found = convolutions(fast_apply(Mixed()), params, x)
    assert found and all(path.endswith("grouped") for path in found)
    assert len(convolutions(Mixed().apply, params, x)) == 2


def test_patch_convs_leaves_a_gpus_convolutions_alone(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    model, x = nn.Conv(4, (3, 3)), images((1, 6, 6, 2))
    params = model.init(jax.random.PRNGKey(0), x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with patch_convs():
            assert convolutions(model.apply, params, x)
        assert convolutions(PatchesConv(4, (3, 3)).apply, params, x)


def test_forward_mode_and_the_hessian_run_through_fast_apply():
    model, (params, xs, _) = UserCNN(), user_data()
    tangent = jax.tree_util.tree_map(jnp.ones_like, params)
    ours = jax.jvp(lambda p: fast_apply(model)({"params": p}, xs[0]), (params,), (tangent,))
    plain = jax.jvp(lambda p: model.apply({"params": p}, xs[0]), (params,), (tangent,))
    for a, b in zip(ours, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

    def loss(apply, bias):
        return apply({"params": {**params, "Conv_1": {**params["Conv_1"], "bias": bias}}},
                     xs[0]).sum() ** 2

    bias = params["Conv_1"]["bias"]
    np.testing.assert_allclose(jax.hessian(lambda b: loss(fast_apply(model), b))(bias),
                               jax.hessian(lambda b: loss(model.apply, b))(bias), rtol=1e-4)
