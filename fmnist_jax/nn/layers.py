"""Dense and 3x3 conv layers that run as plain matmuls, fast inside a compiled loop and under vmap.

Why not `nn.Dense` / `nn.Conv`: measured on XLA's CPU backend (jax 0.10), where these
workarounds apply (`on_cpu`; on a GPU or TPU the CNN uses XLA's own convolution, `conv_impl`):
- a convolution inside a `while` loop (the body of `lax.scan`) runs far off its fast path (a
  CNN step: 39 s in the training loop against 1.3 s jitted alone; jax-ml/jax#12868), and under
  `vmap` over per-seed kernels it becomes a grouped convolution, slow again. A 3x3 same-padded
  conv is here one matmul of its 3x3 patches (9 shifted slices of the padded input) with the
  (9 * C_in, C_out) kernel, which `vmap` turns into a batched matmul;
- a bf16 x bf16 -> bf16 dot is computed as a float32 dot (the operands are converted), while
  bf16 x bf16 -> float32 runs the CPU's native bf16 kernel (1.7x the float32 rate). `matmul`
  returns its float32 accumulator: the bias, the pooling and the ReLU run on it, and only then
  is the layer's output rounded to bf16 (a rounding right after the dot is folded into it).
  A bf16 dot that sums along the first axis of its left operand (the weight gradient, a sum
  over the batch) runs in float32 as well: `weight_grad` transposes that operand first;
- the backward pass of `x @ w` may write `w`'s gradient transposed (then Adam reads it
  transposed), or transpose `w` itself, on every step (157 MB for the CNN's first dense
  layer). `matmul` writes its backward pass so that the gradient comes in w's layout and only
  the smaller operand of each product is transposed.
Max-pooling 2x2 has its own gradient: the first maximum of each window (PyTorch's choice) gets
the window's gradient, in one elementwise pass; JAX's generic one spread over several reduces.

Reverse mode only: `matmul` and `max_pool_2x2` are `jax.custom_vjp` functions, which JAX does
not differentiate forward, so `jax.jvp`, `jax.jacfwd` and `jax.hessian` through these layers
(and the built-in models) raise `TypeError: can't apply forward-mode autodiff (jvp) to a
custom_vjp function`; `jax.grad`, `jax.vjp` and `jax.jacrev` work. A network written with
`nn.Dense` and `nn.Conv` keeps forward mode, also under `fmnist_jax.nn.user_conv.fast_apply`.

The parameters have the names, shapes and initialisers of `nn.Dense` and `nn.Conv` (kernel
(in, out) and (3, 3, in, out), bias (out,)), so checkpoints and `fmnist_jax.nn.convert` serve both.
"""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from fmnist_jax.config import CONV_IMPLS

Initializer = nn.initializers.Initializer


def on_cpu() -> bool:
    """Whether programs compile for XLA's CPU backend, where the workarounds here were measured."""
    return jax.default_backend() == "cpu"


def conv_impl(impl: str) -> str:
    """The conv implementation `impl` names; `auto` is the patches matmul on a CPU (XLA's CPU
    convolutions run far off their fast path inside a loop: jax-ml/jax#12868) and
    `lax.conv_general_dilated` elsewhere (cuDNN, TPU convolutions)."""
    if impl == "auto":
        return "patches" if on_cpu() else "lax"
    if impl not in CONV_IMPLS:
        raise ValueError(f"unknown conv implementation {impl!r}: choose {', '.join(CONV_IMPLS)}")
    return impl


def _accumulator(dtype) -> jnp.dtype:
    return jnp.promote_types(dtype, jnp.float32)


def dot(spec: str, a: jax.Array, b: jax.Array, precision=None) -> jax.Array:
    """`einsum(spec, a, b)` in a's dtype (b is cast to it), accumulated in at least float32.

    Written as einsums, with no transpose ops of their own: XLA then transposes an operand
    itself where its matmul kernels need it, in the compute dtype. (An explicit `x.T` feeding
    a bf16 dot under `vmap` can make XLA's CPU backend upcast that dot to float32.)"""
    return jnp.einsum(spec, a, b.astype(a.dtype), precision=precision,
                      preferred_element_type=_accumulator(a.dtype))


# matmul's three products: x (b, i) @ w (i, o), and its backward pass
FORWARD, WEIGHT_GRAD = "bi,io->bo", "bi,bo->io"
INPUT_GRAD, INPUT_GRAD_KERNEL_FIRST = "bo,io->bi", "io,bo->bi"
WEIGHT_GRAD_FROM_TRANSPOSE = "ib,bo->io"


def input_grad_kernel_first(kernel_size: int, grad_size: int) -> bool:
    """Whether the input gradient puts the kernel first, so that XLA transposes the smaller
    operand, the output gradient."""
    return kernel_size > grad_size


def transpose_row_major(a: jax.Array) -> jax.Array:
    """`a.T` written out row-major. A plain `a.T` is a relabelled view (XLA gives it a
    column-major layout); a concatenation of its two halves is a new row-major array."""
    a = a.T
    half = a.shape[0] // 2
    return jnp.concatenate([a[:half], a[half:]])


def input_grad(grad: jax.Array, w: jax.Array, precision=None) -> jax.Array:
    """The gradient of `x @ w` for x, in grad's dtype. (Transposing w first, so that the dot
    sums along rows as `weight_grad` does, measured slower here in the CNN's step.)"""
    if input_grad_kernel_first(w.size, grad.size):
        return dot(INPUT_GRAD_KERNEL_FIRST, w.astype(grad.dtype), grad, precision)
    return dot(INPUT_GRAD, grad, w, precision)


def weight_grad(x: jax.Array, grad: jax.Array, precision=None) -> jax.Array:
    """The gradient of `x @ w` for w: the sum over the batch of x's rows times grad's.

    In bf16, XLA's CPU backend keeps a dot on its native bf16 kernel (YNNPACK, about twice
    the float32 rate here) only when the contraction runs along the last axis of a row-major
    left operand; otherwise it computes the dot in float32. The batch axis leads x, so x is
    transposed first (`transpose_row_major`): measured on a 784x784 layer, batch 128, 195 ->
    360 GFLOP/s in bf16. In float32 the transpose-free dot is as fast or faster, and off the CPU
    the transpose is an unneeded copy."""
    if x.dtype == jnp.bfloat16 and on_cpu():
        return dot(WEIGHT_GRAD_FROM_TRANSPOSE, transpose_row_major(x), grad, precision)
    return dot(WEIGHT_GRAD, x, grad, precision)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def matmul(x: jax.Array, w: jax.Array, precision=None) -> jax.Array:
    """`x @ w` for 2-D operands, computed in x's dtype (w is cast to it), accumulated and
    returned in at least float32. The gradient for `w` comes in w's own dtype (float32
    parameters get float32 gradients under bf16 compute), the one for `x` in x's dtype."""
    return dot(FORWARD, x, w, precision)


def _matmul_fwd(x, w, precision):
    return matmul(x, w, precision), (x, w)


def _matmul_bwd(precision, residuals, grad):
    x, w = residuals
    grad = grad.astype(x.dtype)
    return (input_grad(grad, w, precision).astype(x.dtype),
            weight_grad(x, grad, precision).astype(w.dtype))


matmul.defvjp(_matmul_fwd, _matmul_bwd)


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pooling with stride 2 of an NHWC array with even height and width."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max((2, 4))


def _pool_fwd(x):
    pooled = max_pool_2x2(x)
    return pooled, (x, pooled)


def _pool_bwd(residuals, grad):
    """The gradient goes to the first maximum of each window in row-major order."""
    x, pooled = residuals
    n, h, w, c = x.shape
    windows = x.reshape(n, h // 2, 2, w // 2, 2, c)
    taken = jnp.zeros(pooled.shape, bool)
    rows = []
    for i in range(2):
        row = []
        for j in range(2):
            first = ~taken if (i, j) == (1, 1) else (windows[:, :, i, :, j] == pooled) & ~taken
            taken = taken | first
            row.append(jnp.where(first, grad, jnp.zeros((), grad.dtype)))
        rows.append(jnp.stack(row, 3))
    return (jnp.stack(rows, 2).reshape(x.shape),)


max_pool_2x2.defvjp(_pool_fwd, _pool_bwd)


def patches_3x3(x: jax.Array) -> jax.Array:
    """(N, H, W, C) -> (N, H, W, 9 C): each pixel's zero-padded 3x3 neighbourhood, ordered like
    the rows of a (3, 3, C, out) kernel reshaped to (9 C, out)."""
    _, h, w, _ = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return jnp.concatenate([padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)],
                           axis=-1)


def _kernel_and_bias(module: nn.Module, kernel_shape: tuple[int, ...]):
    """A layer's parameters, named and initialised like `nn.Dense`'s and `nn.Conv`'s."""
    kernel = module.param("kernel", module.kernel_init, kernel_shape, module.param_dtype)
    bias = module.param("bias", module.bias_init, (kernel_shape[-1],), module.param_dtype)
    return kernel, bias


class _Layer(nn.Module):
    """The fields of a layer with a kernel and a bias, as `nn.Dense` and `nn.Conv` name them."""

    features: int
    kernel_init: Initializer = nn.linear.default_kernel_init
    bias_init: Initializer = nn.initializers.zeros_init()
    dtype: jnp.dtype | None = None
    param_dtype: jnp.dtype = jnp.float32
    precision: str | None = None


class Dense(_Layer):
    """`nn.Dense` computed by `matmul` in `dtype` (default: the input's and kernel's)."""

    @nn.compact
    def __call__(self, x):
        kernel, bias = _kernel_and_bias(self, (x.shape[-1], self.features))
        dtype = self.dtype or jnp.result_type(x, kernel)
        return (matmul(x.astype(dtype), kernel, self.precision) + bias).astype(dtype)


class ConvPoolReLU(_Layer):
    """A 3x3 same-padded conv followed by ReLU and 2x2 max-pooling (the study's conv block).

    `impl="patches"` runs the conv as one `matmul` of `patches_3x3`; `impl="lax"` as
    `lax.conv_general_dilated`; `impl="auto"` picks per backend (`conv_impl`). Pooling comes before the bias and the ReLU: max(z + b) equals
    max(z) + b (rounding is monotone), and ReLU commutes with max, so the block equals PyTorch's
    conv -> ReLU -> pool while its elementwise work runs on a quarter of the pixels.
    """

    impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        impl = conv_impl(self.impl)
        channels = x.shape[-1]
        kernel, bias = _kernel_and_bias(self, (3, 3, channels, self.features))
        dtype = self.dtype or jnp.result_type(x, kernel)
        x = x.astype(dtype)
        if impl == "lax":
            z = jax.lax.conv_general_dilated(x, kernel.astype(dtype), (1, 1), "SAME",
                                             precision=self.precision,
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                             preferred_element_type=_accumulator(dtype))
        else:
            n, h, w, _ = x.shape
            z = matmul(patches_3x3(x).reshape(n * h * w, 9 * channels),
                       kernel.reshape(9 * channels, self.features), self.precision)
            z = z.reshape(n, h, w, self.features)
        return nn.relu(max_pool_2x2(z) + bias).astype(dtype)
