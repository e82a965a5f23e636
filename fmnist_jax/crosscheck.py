"""Weight-level agreement of the Flax models and the PyTorch reference, on the CPU.

From the same weights (drawn by one framework, converted for the other), both frameworks must
give the same logits, loss and gradients on a batch in float32, and the same parameters after
`ADAM_STEPS` Adam steps, within `TOLERANCE` (max abs); matmuls run at full precision on both
sides. The two directions check both conversions of `fmnist_jax.nn.convert`, and a round trip
through the other layout must give back the weights exactly.

The Adam steps are compared in float64, and there are several: in the first step bias
correction cancels the betas (the update is lr * g / (|g| + eps) whatever they are), so only
later steps catch wrong betas, eps or a weight decay. Float32 would not do: the update's slope
at g = 0 is lr / eps = 1e5, so float32 gradients that agree to ~1e-9 (rounding in sums that
cancel to ~0) move parameters 1e-6 to 4e-5 apart, which says nothing about the two
implementations. In float64 the steps agree to ~1e-12.
"""

from dataclasses import dataclass
from typing import NamedTuple

import jax
import numpy as np
import optax
import torch

from fmnist_jax import protocol
from fmnist_jax.nn.convert import flax_to_torch, torch_to_flax
from fmnist_jax.nn.models import build_model, init_flax_params
from fmnist_jax.nn.train import make_optimizer
from torch_ref import models as torch_models
from torch_ref.train import train_step

TOLERANCE = 1e-5
ADAM_STEPS = 5
TORCH_TO_FLAX, FLAX_TO_TORCH = "torch->flax", "flax->torch"


@dataclass(frozen=True)
class FrameworkAgreement:
    """One row of the cross-check table: how far PyTorch and Flax end up apart on one measure
    (logits, loss, ...) from the same weights."""

    model: str
    direction: str
    check: str
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.max_abs_diff <= self.tolerance)


class BatchResult(NamedTuple):
    """What one framework computes from one batch: logits, loss, gradients, weights after Adam."""

    logits: np.ndarray
    loss: float
    grads: dict
    after: dict


def crosscheck(model: str, images: np.ndarray, labels: np.ndarray,
               seed: int = 0) -> list[FrameworkAgreement]:
    """Every check for one model, in both directions, on NHWC float32 `images`."""
    with jax.default_device(jax.devices("cpu")[0]), jax.default_matmul_precision("highest"):
        torch.manual_seed(seed)
        torch_weights = _numpy_state(torch_models.build_model(model))
        flax_weights = init_flax_params(build_model(model), jax.random.key(seed))
        flax_weights = jax.tree_util.tree_map(np.asarray, flax_weights)
        return (_compare(model, TORCH_TO_FLAX, torch_weights, torch_to_flax(torch_weights, model),
                         images, labels)
                + _compare(model, FLAX_TO_TORCH, flax_to_torch(flax_weights, model), flax_weights,
                           images, labels))


def _compare(model: str, direction: str, state_dict: dict, params: dict, images: np.ndarray,
             labels: np.ndarray) -> list[FrameworkAgreement]:
    """Runs both frameworks from the same weights and measures how far apart they end up.

    Results are compared in the layout the weights were converted to: Flax's for torch->flax,
    PyTorch's for flax->torch."""
    torch32 = _torch_side(model, state_dict, images, labels, torch.float32)
    flax32 = _flax_side(model, params, images, labels, np.float32)
    torch64 = _torch_side(model, state_dict, images, labels, torch.float64)
    flax64 = _flax_side(model, params, images, labels, np.float64)
    if direction == TORCH_TO_FLAX:
        def target(torch_tree, flax_tree):
            return torch_to_flax(torch_tree, model), flax_tree
        round_trip = _max_abs_diff(flax_to_torch(params, model), state_dict)
    else:
        def target(torch_tree, flax_tree):
            return torch_tree, flax_to_torch(flax_tree, model)
        round_trip = _max_abs_diff(torch_to_flax(state_dict, model), params)
    rows = [("weights round trip", round_trip, 0.0),
            ("logits", _max_abs_diff(torch32.logits, flax32.logits), TOLERANCE),
            ("loss", abs(torch32.loss - flax32.loss), TOLERANCE),
            ("gradients", _max_abs_diff(*target(torch32.grads, flax32.grads)), TOLERANCE),
            (f"params after {ADAM_STEPS} Adam steps (float64)",
             _max_abs_diff(*target(torch64.after, flax64.after)), TOLERANCE)]
    return [FrameworkAgreement(model, direction, *row) for row in rows]


def _torch_side(model: str, state_dict: dict, images: np.ndarray, labels: np.ndarray,
                dtype: torch.dtype) -> BatchResult:
    """The reference's forward pass and `ADAM_STEPS` of its training step
    (`torch_ref.train.train_step`) on the batch."""
    net = torch_models.build_model(model)
    net.load_state_dict({name: torch.tensor(value) for name, value in state_dict.items()})
    net.to(dtype)
    x = torch.tensor(images.transpose(0, 3, 1, 2), dtype=dtype)
    y = torch.from_numpy(labels.astype(np.int64))
    with torch.no_grad():
        logits = net(x).numpy()
    optimizer = torch.optim.Adam(net.parameters(), lr=protocol.LEARNING_RATE)
    loss = train_step(net, optimizer, x, y).item()
    grads = {name: p.grad.numpy().copy() for name, p in net.named_parameters()}
    for _ in range(ADAM_STEPS - 1):
        train_step(net, optimizer, x, y)
    return BatchResult(logits, loss, grads, _numpy_state(net))


def _flax_side(model: str, params: dict, images: np.ndarray, labels: np.ndarray,
               dtype: type) -> BatchResult:
    """The Flax model's forward pass, gradients and `ADAM_STEPS` steps of the training
    optimizer on the batch."""
    net = build_model(model)
    optimizer = make_optimizer(protocol.LEARNING_RATE)

    def loss_fn(p, images):
        logits = net.apply({"params": p}, images)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits

    @jax.jit
    def step(params, images):
        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, images)
        state = optimizer.init(params)
        after = params
        for _ in range(ADAM_STEPS):
            step_grads = jax.grad(lambda p: loss_fn(p, images)[0])(after)
            updates, state = optimizer.update(step_grads, state, after)
            after = optax.apply_updates(after, updates)
        return logits, loss, grads, after

    with jax.enable_x64(dtype == np.float64):
        params = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype), params)
        logits, loss, grads, after = jax.tree_util.tree_map(np.asarray,
                                                            step(params, images.astype(dtype)))
    return BatchResult(logits, float(loss), grads, after)


def _numpy_state(net: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: value.detach().numpy().copy() for name, value in net.state_dict().items()}


def _max_abs_diff(a, b) -> float:
    """Largest absolute difference over two arrays or pytrees of the same structure and shapes."""
    def diff(x, y) -> float:
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape:
            raise ValueError(f"shapes differ: {x.shape} and {y.shape}")
        return float(np.abs(x - y).max())

    return max(jax.tree_util.tree_leaves(jax.tree_util.tree_map(diff, a, b)))


def format_table(checks: list[FrameworkAgreement]) -> str:
    """A fixed-width table: model, direction, check, max abs diff, tolerance, ok."""
    header = f"{'model':<7} {'direction':<12} {'check':<34} {'max abs diff':>12} {'tolerance':>9}  ok"
    lines = [header, "-" * len(header)]
    for c in checks:
        lines.append(f"{c.model:<7} {c.direction:<12} {c.check:<34} {c.max_abs_diff:>12.3e} "
                     f"{c.tolerance:>9.0e}  {'yes' if c.ok else 'NO'}")
    return "\n".join(lines)
