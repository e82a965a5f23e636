"""A user's `nn.Conv` computed as its patches times a matmul on XLA's CPU backend.

Why: XLA's CPU backend runs a convolution inside a loop body (`lax.scan`, `lax.while_loop`) far
off its fast path (jax-ml/jax#12868): a small `nn.Conv` CNN's training step takes 6-9x longer
in a scan than jitted alone. As a matmul of its patches (strided slices of the padded input,
concatenated) with the kernel reshaped (prod(kernel_size) * C_in, C_out), it runs at the
step's own speed (docs/performance.md). Two ways in, both with nn.Conv's parameters ('kernel'
in HWIO order, 'bias'), names, shapes and initialisation, so params are interchangeable:

- `PatchesConv`: a drop-in subclass of `nn.Conv` (same fields, plus `impl`) to write in a model;
- `patch_convs()`: a context manager under which every plain `nn.Conv` of any module computes
  this way, with its own params; `fast_apply(module)` is `module.apply` inside it, for a
  training step to call in place of `module.apply`.

Both follow `layers.conv_impl`: patches on the CPU, nn.Conv's own `lax.conv_general_dilated`
on a GPU or TPU (`impl="auto"`). Rewritten: any number of spatial dimensions, kernel size,
strides, kernel dilation, every padding nn.Conv takes, `mask`, `use_bias`, `dtype`,
`param_dtype`, `promote_dtype`, `precision` and extra batch dimensions. Not rewritten: input
dilation, `feature_group_count > 1`, a custom `conv_general_dilated`: such a layer computes as
nn.Conv does and warns (`SlowConvWarning`, a one-line message; `warnings.simplefilter("error",
SlowConvWarning)` makes it an error). `nn.ConvTranspose` and `nn.ConvLocal` are left alone;
`convolutions(fn, *args)` lists the convolutions a function still runs, by module path.

The rewrite uses JAX's own derivatives (no custom VJP), so `jax.jvp`, `jax.jacfwd` and
`jax.hessian` work through it, unlike the built-in models' layers (`fmnist_jax.nn.layers`).
"""

import itertools
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from fmnist_jax.nn.layers import conv_impl

PADDING_MODES = {"CIRCULAR": "wrap", "REFLECT": "reflect"}  # nn.Conv pads these itself


class SlowConvWarning(UserWarning):
    """An `nn.Conv` runs XLA's convolution: far off its fast path in a loop on the CPU."""


def conv_patches(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                 padding: str | Sequence[tuple[int, int]],
                 kernel_dilation: Sequence[int] | None = None, precision=None) -> jax.Array:
    """`lax.conv_general_dilated(x, kernel, strides, padding, rhs_dilation=kernel_dilation)`
    for channels-last x (N, *spatial, C_in) and kernel (*window, C_in, C_out), as one matmul
    of x's patches, ordered like the kernel's rows, with the kernel."""
    window = kernel.shape[:-2]
    dilation = tuple(kernel_dilation or (1,) * len(window))
    strides = tuple(strides)
    extent = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:-1], extent, strides, padding)
    x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), *((lo, hi, 0) for lo, hi in padding),
                                            (0, 0, 0)])
    out = [max((size - e) // s + 1, 0) for size, e, s in zip(x.shape[1:-1], extent, strides)]
    patches = []
    for offset in itertools.product(*map(range, window)):
        start = [o * d for o, d in zip(offset, dilation)]
        limit = [b + (n - 1) * s + 1 if n else b for b, n, s in zip(start, out, strides)]
        patches.append(lax.slice(x, (0, *start, 0), (x.shape[0], *limit, x.shape[-1]),
                                 (1, *strides, 1)))
    patches = jnp.concatenate(patches, axis=-1)
    return jnp.dot(patches, kernel.reshape(-1, kernel.shape[-1]), precision=precision)


def _per_dim(value, rank: int) -> tuple[int, ...]:
    """nn.Conv's reading of strides and dilations: None is 1, an int applies to every dim."""
    value = 1 if value is None else value
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _kernel_size(module: nn.Conv) -> tuple[int, ...]:
    size = module.kernel_size
    return (size,) if isinstance(size, int) else tuple(size)


def unsupported(module: nn.Conv) -> list[str]:
    """The settings of an nn.Conv that `conv_patches` does not compute (empty: all are)."""
    rank = len(_kernel_size(module))
    found = []
    if _per_dim(module.input_dilation, rank) != (1,) * rank:
        found.append(f"input_dilation={module.input_dilation}")
    if module.feature_group_count != 1:
        found.append(f"feature_group_count={module.feature_group_count}")
    if module.conv_general_dilated is not None or module.conv_general_dilated_cls is not None:
        found.append("a custom conv_general_dilated")
    return found


def _warn_unsupported(module: nn.Conv, reasons: list[str]) -> None:
    where = "/".join(module.path) or type(module).__name__
    warnings.warn(f"{where}: nn.Conv with {', '.join(reasons)} runs XLA's convolution, far off "
                  "its fast path inside a loop on the CPU (jax-ml/jax#12868)", SlowConvWarning,
                  stacklevel=3)


def conv_call(module: nn.Conv, inputs: jax.Array) -> jax.Array:
    """`nn.Conv.__call__` of a bound `module`, its convolution computed by `conv_patches`:
    the same parameters (created or read through `module.param`) and the same result."""
    kernel_size = _kernel_size(module)
    rank = len(kernel_size)
    batch_shape = inputs.shape[:inputs.ndim - rank - 1]
    inputs = inputs.reshape((-1, *inputs.shape[len(batch_shape):]))
    dilation = _per_dim(module.kernel_dilation, rank)
    padding = nn.linear.canonicalize_padding(module.padding, rank)
    if isinstance(padding, str) and padding in PADDING_MODES:
        extent = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
        inputs = jnp.pad(inputs, [(0, 0), *(((e - 1) // 2, e // 2) for e in extent), (0, 0)],
                         mode=PADDING_MODES[padding])
        padding = "VALID"
    elif padding == "CAUSAL":
        if rank != 1:
            raise ValueError("Causal padding is only implemented for 1D convolutions.")
        inputs = jnp.pad(inputs, [(0, 0), (dilation[0] * (kernel_size[0] - 1), 0), (0, 0)])
        padding = "VALID"

    kernel_shape = (*kernel_size, inputs.shape[-1], module.features)
    if module.mask is not None and module.mask.shape != kernel_shape:
        raise ValueError("Mask needs to have the same shape as weights. "
                         f"Shapes are: {module.mask.shape}, {kernel_shape}")
    kernel = module.param("kernel", module.kernel_init, kernel_shape, module.param_dtype)
    if module.mask is not None:
        kernel *= module.mask
    bias = (module.param("bias", module.bias_init, (module.features,), module.param_dtype)
            if module.use_bias else None)
    inputs, kernel, bias = module.promote_dtype(inputs, kernel, bias, dtype=module.dtype)
    y = conv_patches(inputs, kernel, _per_dim(module.strides, rank), padding, dilation,
                     module.precision)
    if bias is not None:
        y += bias
    return y.reshape((*batch_shape, *y.shape[1:]))


class PatchesConv(nn.Conv):
    """`nn.Conv`, computed by `conv_patches` where `layers.conv_impl(impl)` picks "patches"
    (`auto`: on the CPU); settings it does not compute run as nn.Conv, with a SlowConvWarning."""

    impl: str = "auto"

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        if conv_impl(self.impl) == "lax":
            return super().__call__(inputs)
        if reasons := unsupported(self):
            _warn_unsupported(self, reasons)
            return super().__call__(inputs)
        return conv_call(self, inputs)


def _rewrite_plain_convs(next_fun, args, kwargs, context):
    """A flax method interceptor: a plain nn.Conv's `__call__` runs as `conv_call`."""
    module = context.module
    if (context.method_name != "__call__" or not isinstance(module, nn.Conv)
            or type(module).__call__ is not nn.Conv.__call__):
        return next_fun(*args, **kwargs)
    if reasons := unsupported(module):
        _warn_unsupported(module, reasons)
        return next_fun(*args, **kwargs)
    return conv_call(module, *args, **kwargs)


@contextmanager
def patch_convs(impl: str = "auto") -> Iterator[None]:
    """Within it, every plain `nn.Conv` (and subclass that keeps nn.Conv's `__call__`) of any
    flax module computes by `conv_patches` where `layers.conv_impl(impl)` picks "patches"
    (`auto`: on the CPU; elsewhere nothing changes). Enter it where the module is traced, e.g.
    around `module.apply` inside the jitted training step."""
    if conv_impl(impl) == "lax":
        yield
        return
    with nn.intercept_methods(_rewrite_plain_convs):
        yield


def fast_apply(module: nn.Module, impl: str = "auto") -> Callable:
    """`module.apply`, same arguments and result, with its convolutions under `patch_convs`:
    what a training loop calls for a user's module (`fast_apply(model)({"params": p}, x)`,
    inside the jitted step). `module.init` needs no counterpart: it makes the same params."""

    def apply(*args, **kwargs):
        with patch_convs(impl):
            return module.apply(*args, **kwargs)

    return apply


def _subjaxprs(value) -> Iterator[jax.extend.core.Jaxpr]:
    if isinstance(value, jax.extend.core.ClosedJaxpr):
        yield value.jaxpr
    elif isinstance(value, jax.extend.core.Jaxpr):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _subjaxprs(item)


def _convolutions(jaxpr) -> Iterator[str]:
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            yield str(eqn.source_info.name_stack) or "(top level)"
        for value in eqn.params.values():
            for sub in _subjaxprs(value):
                yield from _convolutions(sub)


def convolutions(fn: Callable, *args, **kwargs) -> list[str]:
    """Where the traced `fn(*args, **kwargs)` runs a convolution (the name stack of each,
    which holds the flax module path): empty when it runs none, forward or backward."""
    return list(_convolutions(jax.make_jaxpr(fn)(*args, **kwargs).jaxpr))
