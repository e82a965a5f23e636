"""The matmul-based layers: the same numbers as the plain operations and PyTorch's, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fmnist_jax.nn.layers import (
    matmul,
    max_pool_2x2,
    patches_3x3,
    transpose_row_major,
    weight_grad,
)
from fmnist_jax.nn.models import build_model, init_flax_params


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def random(shape, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float64)


@pytest.mark.parametrize("shape", [((8, 5), (5, 3)), ((4, 30), (30, 6))])  # small and large kernel
def test_matmul_gradients_equal_autodiff_of_the_plain_product(shape):
    x, w, g = random(shape[0], 1), random(shape[1], 2), random((shape[0][0], shape[1][1]), 3)
    ours = jax.vjp(matmul, x, w)[1](g)
    plain = jax.vjp(jnp.matmul, x, w)[1](g)
    for a, b in zip(ours, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_matmul_in_bf16_gives_float32_kernel_gradients_for_a_float32_kernel():
    x = random((8, 16)).astype(jnp.bfloat16)
    w = random((16, 4)).astype(jnp.float32)
    y, pullback = jax.vjp(matmul, x, w)
    dx, dw = pullback(jnp.ones_like(y))
    assert (y.dtype, dx.dtype, dw.dtype) == (jnp.float32, jnp.bfloat16, jnp.float32)


@pytest.mark.parametrize("shape", [(8, 6), (7, 5)])  # an even and an odd number of columns
def test_transpose_row_major_is_the_transpose(shape):
    x = random(shape)
    np.testing.assert_array_equal(transpose_row_major(x), x.T)


def test_bf16_weight_gradient_is_the_float32_product_of_its_bf16_operands():
    x, grad = random((64, 7)).astype(jnp.bfloat16), random((64, 5), 1).astype(jnp.bfloat16)
    ours = weight_grad(x, grad)
    assert ours.dtype == jnp.float32
    expected = np.asarray(x, np.float64).T @ np.asarray(grad, np.float64)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_bf16_weight_gradient_runs_on_bf16_operands_on_the_cpu():
    """XLA's CPU backend computes a bf16 dot it has no native kernel for in float32, upcasting
    its operands: the weight gradient is written so that it does not."""
    if jax.default_backend() != "cpu":
        pytest.skip("checks XLA's CPU compiler")
    x, grad = jnp.ones((128, 96), jnp.bfloat16), jnp.ones((128, 64), jnp.bfloat16)
    compiled = jax.jit(weight_grad).lower(x, grad).compile().as_text()
    entry = compiled[compiled.index("ENTRY"):]
    assert "f32[128,96]" not in entry and "f32[96,128]" not in entry and "f32[128,64]" not in entry


def test_patches_times_the_kernel_is_the_same_padded_convolution():
    x, kernel = random((2, 6, 6, 3)), random((3, 3, 3, 4), 1)
    ours = (patches_3x3(x).reshape(-1, 27) @ kernel.reshape(27, 4)).reshape(2, 6, 6, 4)
    conv = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(ours, conv, rtol=1e-12)


def test_max_pool_gives_each_window_its_maximum():
    x = random((2, 4, 6, 3))
    expected = np.asarray(x).reshape(2, 2, 2, 3, 2, 3).max(axis=(2, 4))
    np.testing.assert_array_equal(max_pool_2x2(x), expected)


def test_max_pool_gradient_goes_to_the_first_maximum_of_a_window_as_in_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, 3.0, 0.0, 1.0],    # a tie in the first window, in its first row
                  [1.0, 2.0, 1.0, 1.0],    # a four-way tie in the second window
                  [0.0, 5.0, 2.0, 9.0],
                  [5.0, 4.0, 9.0, 0.0]])   # ties across rows
    grad = np.array([[1.0, 2.0], [3.0, 4.0]])
    ours = jax.vjp(max_pool_2x2, jnp.asarray(x)[None, :, :, None])[1](
        jnp.asarray(grad)[None, :, :, None])[0][0, :, :, 0]
    t = torch.tensor(x)[None, None].requires_grad_()
    torch.nn.functional.max_pool2d(t, 2).backward(torch.tensor(grad)[None, None])
    np.testing.assert_array_equal(ours, t.grad[0, 0].numpy())


@pytest.mark.parametrize("transform", [
    lambda f, p: jax.jvp(f, (p,), (p,)),
    lambda f, p: jax.hessian(lambda b: f({**p, "Dense_1": {**p["Dense_1"], "bias": b}}))(
        p["Dense_1"]["bias"])])
def test_forward_mode_through_the_built_in_models_is_the_documented_error(transform):
    """As the module docstring says: the layers' custom VJPs are reverse mode only."""
    model = build_model("simple")
    params = init_flax_params(model, jax.random.PRNGKey(0))
    images = random((2, 28, 28, 1))

    def logits_sum(p):
        return model.apply({"params": p}, images).sum()

    assert jax.grad(logits_sum)(params)["Dense_1"]["bias"].shape == (784,)
    with pytest.raises(TypeError, match=r"can't apply forward-mode autodiff \(jvp\) to a "
                                        "custom_vjp function"):
        transform(logits_sum, params)
