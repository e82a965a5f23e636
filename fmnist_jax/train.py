"""The study's whole training protocol as pure, jittable functions of a PRNG key.

`make_train(config)` returns `train(key, data, learning_rate) -> TrainState`: initialisation,
then a `lax.while_loop` over epochs (each a `lax.scan` over shuffled mini-batches) that stops
by the early-stopping rule of `protocol`. Nothing leaves the device inside the loop except an
optional per-epoch progress callback, so `jax.jit(jax.vmap(train, (0, None, 0)))` trains many
seeds and learning rates in one compiled program; finished runs stay frozen under `vmap`.

The data is an argument, not a closure: a closed-over array becomes a compile-time constant
(measured here: 5.9 s to compile against 0.6 s for the same 188 MB passed as an argument).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data import Split
from fmnist_jax.models import build_model, init_params

MATMUL_PRECISION = {"float32": "highest", "tf32": "tensorfloat32", "bf16": "default"}


class EvalSet(NamedTuple):
    """A dataset cut into equal chunks for evaluation; `mask` marks the padding off."""

    images: jax.Array  # (chunks, chunk, 28, 28, 1)
    labels: jax.Array  # (chunks, chunk)
    mask: jax.Array  # (chunks, chunk), 1.0 for real images


class DeviceData(NamedTuple):
    """What training reads, resident on the device."""

    x_train: jax.Array
    y_train: jax.Array
    val: EvalSet


class History(NamedTuple):
    train_loss: jax.Array  # (max_epochs,), NaN after the last epoch run
    val_loss: jax.Array
    val_accuracy: jax.Array


class TrainState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    key: jax.Array
    epoch: jax.Array  # epochs completed
    best_val_loss: jax.Array
    best_epoch: jax.Array
    wait: jax.Array  # epochs since the best validation loss
    diverged: jax.Array
    best_params: dict | None  # kept only with restore_best
    history: History


class Metrics(NamedTuple):
    loss: jax.Array
    accuracy: jax.Array
    confusion: jax.Array  # (10, 10), rows true class, columns predicted


def eval_set(images: np.ndarray, labels: np.ndarray, chunk: int) -> EvalSet:
    """Pads a dataset to whole chunks once, on the host, so evaluation is a scan."""
    n = len(labels)
    chunk = min(chunk, n)
    chunks = -(-n // chunk)
    pad = chunks * chunk - n
    images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    labels = np.concatenate([labels, np.zeros(pad, labels.dtype)])
    mask = (np.arange(chunks * chunk) < n).astype(np.float32)
    return EvalSet(jnp.asarray(images.reshape(chunks, chunk, *images.shape[1:])),
                   jnp.asarray(labels.reshape(chunks, chunk)), jnp.asarray(mask.reshape(chunks, chunk)))


def device_data(split: Split, eval_batch_size: int) -> DeviceData:
    return DeviceData(jnp.asarray(split.x_train), jnp.asarray(split.y_train),
                      eval_set(split.x_val, split.y_val, eval_batch_size))


def make_optimizer(learning_rate) -> optax.GradientTransformation:
    """optax Adam at PyTorch's defaults; the learning rate is a (vmappable) hyper-parameter."""
    b1, b2 = protocol.ADAM_BETAS
    return optax.inject_hyperparams(optax.adam)(learning_rate=learning_rate, b1=b1, b2=b2,
                                                eps=protocol.ADAM_EPS)


def make_evaluate(config: TrainConfig) -> Callable[[dict, EvalSet], Metrics]:
    """Mean loss, accuracy and confusion matrix of `params` on an EvalSet."""
    model = build_model(config.model, config.torch_init, _compute_dtype(config))
    precision = MATMUL_PRECISION[config.precision]

    def evaluate(params, data: EvalSet) -> Metrics:
        def chunk(totals, batch):
            images, labels, mask = batch
            with jax.default_matmul_precision(precision):
                logits = model.apply({"params": params}, images).astype(jnp.float32)
            losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
            confusion = jnp.zeros((10, 10)).at[labels, jnp.argmax(logits, -1)].add(mask)
            return jax.tree_util.tree_map(jnp.add, totals, ((losses * mask).sum(), confusion)), None

        zeros = (jnp.zeros(()), jnp.zeros((10, 10)))
        (loss_sum, confusion), _ = jax.lax.scan(chunk, zeros, data)
        n = data.mask.sum()
        return Metrics(loss_sum / n, jnp.trace(confusion) / n, confusion)

    return evaluate


def make_train(config: TrainConfig, on_epoch: Callable | None = None):
    """Returns the pure `train(key, data, learning_rate) -> TrainState` for `config`.

    `on_epoch(active, epoch, train_loss, val_loss, val_accuracy)` is called on the host after
    every epoch when given (under vmap once per run, `active` False for finished runs).
    """
    model = build_model(config.model, config.torch_init, _compute_dtype(config))
    evaluate = make_evaluate(config)
    precision = MATMUL_PRECISION[config.precision]
    batch_size, max_epochs = config.batch_size, config.max_epochs

    def batch_loss(params, images, labels, mask):
        with jax.default_matmul_precision(precision):
            logits = model.apply({"params": params}, images).astype(jnp.float32)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        return (losses * mask).sum() / mask.sum()

    def init(key, learning_rate) -> TrainState:
        init_key, key = jax.random.split(key)
        params = init_params(model, init_key)
        empty = jnp.full((max_epochs,), jnp.nan)
        return TrainState(params, make_optimizer(learning_rate).init(params), key,
                          jnp.int32(0), jnp.float32(jnp.inf), jnp.int32(0), jnp.int32(0),
                          jnp.bool_(False), params if config.restore_best else None,
                          History(empty, empty, empty))

    def run_epoch(state: TrainState, data: DeviceData) -> TrainState:
        tx = make_optimizer(state.opt_state.hyperparams["learning_rate"])
        key, shuffle_key = jax.random.split(state.key)
        n = data.y_train.shape[0]
        batches = -(-n // batch_size)
        order = jnp.pad(jax.random.permutation(shuffle_key, n), (0, batches * batch_size - n))
        mask = (jnp.arange(batches * batch_size) < n).astype(jnp.float32)

        def step(carry, batch):
            params, opt_state = carry
            index, weight = batch
            loss, grads = jax.value_and_grad(batch_loss)(
                params, data.x_train[index], data.y_train[index], weight)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss * weight.sum()

        (params, opt_state), losses = jax.lax.scan(
            step, (state.params, state.opt_state),
            (order.reshape(batches, batch_size), mask.reshape(batches, batch_size)))
        train_loss = losses.sum() / n
        val = evaluate(params, data.val)
        improved = val.loss < state.best_val_loss
        best_val_loss, wait = protocol.early_stopping_update(
            state.best_val_loss, state.wait, val.loss, xp=jnp)
        epoch = state.epoch + 1
        best_params = state.best_params
        if config.restore_best:
            best_params = jax.tree_util.tree_map(
                lambda new, old: jnp.where(improved, new, old), params, state.best_params)
        history = History(*(h.at[state.epoch].set(v) for h, v in
                            zip(state.history, (train_loss, val.loss, val.accuracy))))
        diverged = ~(jnp.isfinite(train_loss) & jnp.isfinite(val.loss))
        if on_epoch is not None:
            jax.debug.callback(on_epoch, ~stopped(state), epoch, train_loss, val.loss,
                               val.accuracy)
        return TrainState(params, opt_state, key, epoch, best_val_loss,
                          jnp.where(improved, epoch, state.best_epoch), wait, diverged,
                          best_params, history)

    def stopped(state: TrainState):
        return state.diverged | protocol.should_stop(state.wait, state.epoch,
                                                     config.patience, max_epochs)

    def advance(state: TrainState, data: DeviceData, until_epoch=max_epochs) -> TrainState:
        """Runs epochs until the run stops or `until_epoch` epochs are complete."""
        return jax.lax.while_loop(lambda s: ~stopped(s) & (s.epoch < until_epoch),
                                  lambda s: run_epoch(s, data), state)

    def train(key, data: DeviceData, learning_rate=config.learning_rates[0]) -> TrainState:
        return advance(init(key, learning_rate), data)

    train.init, train.advance, train.stopped = init, advance, stopped
    return train


def final_params(state: TrainState, config: TrainConfig) -> dict:
    """The parameters tested: the last epoch's (the study's choice) or the best epoch's."""
    return state.best_params if config.restore_best else state.params


def _compute_dtype(config: TrainConfig):
    return jnp.bfloat16 if config.precision == "bf16" else None
