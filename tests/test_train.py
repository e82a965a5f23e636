"""The jitted training protocol on small synthetic data."""

import re

import jax
import numpy as np
import pytest

from fmnist_jax import protocol
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.nn.network import study_network
from fmnist_jax.nn.train import (
    device_data,
    eval_set,
    final_params,
    make_evaluate,
    make_train,
)

SPLIT = synthetic_split(n_train=400, n_val=100, n_test=100)
SMALL = {"model": "simple", "batch_size": 32, "eval_batch_size": 64, "progress": False}


def run(config: TrainConfig, seed: int = 0, lr: float = 1e-3):
    train = jax.jit(make_train(config).train)
    return train(jax.random.PRNGKey(seed), device_data(SPLIT, config), lr)


def stopping_epoch(losses, patience):
    best, wait = np.inf, 0
    for epoch, loss in enumerate(losses, start=1):
        best, wait = protocol.early_stopping_update(best, wait, loss)
        if protocol.should_stop(wait, epoch, patience, max_epochs=len(losses)):
            return epoch, float(best)


def test_early_stopping_counts_an_equal_loss_as_no_improvement():
    assert stopping_epoch([1.0, 0.8, 0.9, 0.8, 0.85, 0.7], patience=3) == (5, 0.8)


def test_early_stopping_wait_resets_on_a_new_best():
    assert stopping_epoch([1.0, 0.8, 0.9, 0.85, 0.7, 0.71, 0.72, 0.73, 0.6], patience=3) == (8, 0.7)


def test_early_stopping_stops_at_max_epochs_without_patience_running_out():
    assert stopping_epoch([1.0, 0.9, 0.8], patience=3) == (3, 0.8)


@pytest.fixture(scope="module")
def overfit():
    """One run that overfits the noisy labels and stops by patience (shared: one compile)."""
    config = TrainConfig(**SMALL, max_epochs=60, patience=3, restore_best=True)
    return config, run(config)


def test_training_reduces_the_training_loss(overfit):
    _, state = overfit
    history = np.asarray(state.history.train_loss)
    assert history[int(state.epoch) - 1] < 0.8 * history[0]


def test_training_stops_patience_epochs_after_the_best_validation_loss(overfit):
    _, state = overfit
    epochs, best = int(state.epoch), int(state.best_epoch)
    val = np.asarray(state.history.val_loss)[:epochs]
    assert epochs < 60 and epochs - best == 3
    assert val[best - 1] == val.min() and np.isnan(state.history.val_loss[epochs])


def test_restore_best_returns_the_parameters_of_the_best_epoch(overfit):
    config, state = overfit
    evaluate = jax.jit(make_evaluate(config))
    best = evaluate(final_params(state, config), eval_set(SPLIT.x_val, SPLIT.y_val, 64))
    last = evaluate(state.params, eval_set(SPLIT.x_val, SPLIT.y_val, 64))
    np.testing.assert_allclose(best.loss, state.best_val_loss, rtol=1e-6)
    assert last.loss > best.loss


def test_max_epochs_bounds_the_run():
    state = run(TrainConfig(**SMALL, max_epochs=2, patience=30))
    assert int(state.epoch) == 2 and int(np.isfinite(state.history.val_loss).sum()) == 2


def test_a_diverging_learning_rate_stops_the_run_as_diverged():
    state = run(TrainConfig(**SMALL, max_epochs=20), lr=1e30)
    assert bool(state.diverged) and int(state.epoch) < 20


def test_last_partial_batch_is_trained_on():
    config = TrainConfig(**SMALL, max_epochs=1)
    split = synthetic_split(n_train=40, n_val=20, n_test=20)  # 32 + a batch of 8
    data = device_data(split, config)
    one = jax.jit(make_train(config).train)(jax.random.PRNGKey(0), data, 1e-3)
    assert int(one.opt_state.inner_state[0].count) == 2


def test_evaluation_counts_every_test_image_once_in_the_confusion_matrix(overfit):
    config, state = overfit
    metrics = jax.jit(make_evaluate(config))(state.params, eval_set(SPLIT.x_test, SPLIT.y_test, 64))
    confusion = np.asarray(metrics.confusion)
    assert confusion.sum() == 100
    np.testing.assert_array_equal(confusion.sum(1), np.bincount(SPLIT.y_test, minlength=10))
    np.testing.assert_allclose(metrics.accuracy, np.trace(confusion) / 100)


@pytest.mark.parametrize("name", ["big", "cnn"])
def test_every_model_trains_one_epoch(name):
    split = synthetic_split(n_train=16, n_val=8, n_test=8)
    config = TrainConfig(**{**SMALL, "model": name, "batch_size": 8}, max_epochs=1)
    state = jax.jit(make_train(config).train)(jax.random.PRNGKey(0), device_data(split, config),
                                               1e-3)
    assert int(state.epoch) == 1 and np.isfinite(state.history.val_loss[0])


def test_bf16_precision_computes_in_bf16_and_keeps_float32_parameters(overfit):
    state = run(TrainConfig(**SMALL, max_epochs=2, precision="bf16"))
    _, float32 = overfit  # the same seed and data in float32
    assert all(leaf.dtype == np.float32 for leaf in jax.tree_util.tree_leaves(state.params))
    assert state.history.train_loss[0] != float32.history.train_loss[0]
    assert abs(state.history.train_loss[0] - float32.history.train_loss[0]) < 0.05
    assert np.isfinite(state.history.val_loss[:2]).all()


def test_padding_in_a_batch_does_not_change_the_step():
    """The last batch of an epoch is padded to the batch size and masked: the padding's
    images (here noise) must not move the parameters or the loss."""
    config = TrainConfig(**SMALL)
    trainer = make_train(config)
    state = jax.jit(trainer.init)(jax.random.PRNGKey(0), 1e-3)
    images, labels = SPLIT.x_train[:8], SPLIT.y_train[:8]
    noise = np.random.default_rng(1).uniform(0, 1, (24, 28, 28, 1)).astype(np.float32)
    padded = (np.concatenate([images, noise]), np.concatenate([labels, labels[:8].repeat(3)]))
    step = jax.jit(trainer.step)
    alone = step(state.params, state.opt_state, images, labels, np.ones(8, np.float32))
    masked = step(state.params, state.opt_state, *padded,
                  np.concatenate([np.ones(8), np.zeros(24)]).astype(np.float32))
    np.testing.assert_allclose(alone[2], masked[2], rtol=1e-6)  # the batch's loss sum
    # Adam's first moment is 0.1 x the gradient (its update, lr g / (|g| + eps), would magnify
    # the rounding of a batch of 32 against one of 8 near g = 0)
    first_moments = [s.inner_state[0].mu for s in (alone[1], masked[1])]
    for a, b in zip(*map(jax.tree_util.tree_leaves, first_moments)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(np.abs(b).max()))


@pytest.mark.parametrize("model", ["simple", "cnn"])
@pytest.mark.parametrize("precision, matmul", [("float32", "HIGHEST"), ("tf32", "HIGH")])
def test_each_matmul_of_a_step_runs_at_the_configured_precision(model, precision, matmul):
    """float32 asks for full-precision matmuls, tf32 for lax's tensorfloat32 (HIGH), forward and
    backward, on float32 operands; a CPU computes both in float32, so only the program shows it."""
    trainer = make_train(TrainConfig(**{**SMALL, "model": model}, precision=precision))
    state = jax.eval_shape(trainer.init, jax.random.PRNGKey(0), 1e-3)
    batch = (SPLIT.x_train[:8], SPLIT.y_train[:8], np.ones(8, np.float32))
    program = jax.jit(trainer.step).lower(state.params, state.opt_state, *batch).as_text()
    dots = re.findall(r"stablehlo\.dot_general .*", program)
    assert len(dots) >= 6  # forward, input and weight gradients of each layer
    for dot in dots:
        assert f"precision = [{matmul}, {matmul}]" in dot and "xbf16" not in dot, dot


def test_the_batch_mean_loss_weighs_each_batch_of_256_equally():
    """The study's loss: the mean over batches of 256 (in order) of each batch's mean."""
    losses = np.random.default_rng(0).uniform(0, 3, 1000)
    study = np.mean([losses[i:i + 256].mean() for i in range(0, 1000, 256)])
    weights = protocol.eval_loss_weights(1000, "batch-mean")
    assert weights @ losses == pytest.approx(study, rel=1e-12)
    assert protocol.eval_loss_weights(1000, "sample-mean") @ losses == pytest.approx(losses.mean())


def test_evaluation_loss_follows_the_configured_definition(overfit):
    config, state = overfit
    images, labels = SPLIT.x_train[:300], SPLIT.y_train[:300]  # a batch of 256, one of 44
    metrics = {loss: jax.jit(make_evaluate(config))(
        state.params, eval_set(images, labels, 64, loss)).loss for loss in protocol.EVAL_LOSSES}
    logits = study_network(config).module.apply({"params": state.params}, images)
    per_image = np.asarray(-jax.nn.log_softmax(logits)[np.arange(300), labels])
    np.testing.assert_allclose(metrics["sample-mean"], per_image.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["batch-mean"],
                               (per_image[:256].mean() + per_image[256:].mean()) / 2, rtol=1e-5)
    assert abs(metrics["batch-mean"] - metrics["sample-mean"]) > 1e-4
