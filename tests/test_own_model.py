"""A user's own Flax module and torch factory, on their own data, through the many-seed loop:
what the run records, that it is never set beside the study, resume and evaluate with the model
again, and one-line errors for what cannot run."""

import json

import flax.linen as nn
import jax
import numpy as np
import pytest
from sklearn.datasets import load_digits

from fmnist_jax import ConfigError, Split, TrainConfig, evaluate, resume, train_jax, train_torch
from fmnist_jax.data.split import checked_split, split_record
from fmnist_jax.nn import runner
from fmnist_jax.nn.models import init_flax_params, param_count

DIGITS = load_digits()
IMAGES = (DIGITS.images / 16.0).astype(np.float32)[..., None]  # 8x8x1, NHWC
SPLIT = Split(IMAGES[:300], DIGITS.target[:300], IMAGES[300:400], DIGITS.target[300:400],
              IMAGES[400:500], DIGITS.target[400:500])
QUIET = {"batch_size": 32, "eval_batch_size": 50, "progress": False}


class TinyCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3))(x))
        return nn.Dense(10)(x.reshape(len(x), -1))


def quiet(*_):
    pass


def test_an_own_module_trains_its_seeds_and_records_what_it_is(tmp_path):
    config = TrainConfig(seeds=2, max_epochs=3, **QUIET)  # model "simple" is the default
    run = train_jax(config, SPLIT, model=TinyCNN(), out=tmp_path / "run", log=quiet)
    assert run.config.model == "TinyCNN"  # labelled by its class, never as one of the study's
    assert [r["seed"] for r in run.results["runs"]] == [0, 1]
    assert all(len(r["confusion_matrix"]) == 10 for r in run.results["runs"])
    own = run.results["own_model"]
    params = jax.eval_shape(lambda: init_flax_params(TinyCNN(), jax.random.PRNGKey(0), (8, 8, 1)))
    assert own["module"].endswith("TinyCNN") and own["params"] == param_count(params) == 2_610
    assert own["data"] == split_record(checked_split(SPLIT))  # the arrays as trained: int32 labels
    assert own["data"]["shapes"]["x_train"] == [300, 8, 8, 1]
    assert "directory" not in run.results["provenance"]["data"]  # not the Fashion-MNIST files
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    assert recorded["own_model"] == own and recorded["model"] == "TinyCNN"
    note = run.summary["rows"][0]["note"]
    assert note.startswith("Not set beside the study's published figures") and "TinyCNN" in note
    assert "| ours |" in run.summary["markdown"] and "| study |" not in run.summary["markdown"]
    assert "study_success_avg" not in run.summary["rows"][0]


def test_each_seed_stops_by_its_own_early_stopping():
    config = TrainConfig(seeds=3, max_epochs=200, patience=2, learning_rates=(0.03,), **QUIET)
    runs = train_jax(config, SPLIT, model=TinyCNN(), log=quiet).results["runs"]
    assert all(r["stopped"] == "patience" for r in runs)
    for r in runs:
        losses = r["history"]["val_loss"]
        assert len(losses) == r["epochs"] and r["epochs"] - r["best_epoch"] == 2
        assert min(losses) == pytest.approx(r["best_val_loss"])


def test_a_user_label_is_kept_and_the_jax_and_torch_twins_compare(tmp_path):
    torch = pytest.importorskip("torch")
    from fmnist_jax import compare_runs

    class TorchTinyCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.dense = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Linear(256, 10)

        def forward(self, x):
            return self.dense(torch.relu(self.conv(x)).flatten(1))

    config = TrainConfig(model="tiny", seeds=2, max_epochs=2, **QUIET)
    jax_run = train_jax(config, SPLIT, model=TinyCNN(), out=tmp_path / "jax", log=quiet)
    torch_run = train_torch(config, SPLIT, model=TorchTinyCNN, out=tmp_path / "torch", log=quiet)
    assert jax_run.config.model == torch_run.config.model == "tiny"
    assert torch_run.results["own_model"]["params"] == 4 * 9 + 4 + 256 * 10 + 10
    assert torch_run.results["own_model"]["data"] == jax_run.results["own_model"]["data"]
    comparison = compare_runs([tmp_path / "jax", tmp_path / "torch"])
    entry = comparison["models"]["tiny"]
    assert entry["published"] is None and len(entry["differences"]) == 1
    assert entry["differences"][0]["caveat"] is None


def test_resume_and_evaluate_take_the_model_and_split_again(monkeypatch, tmp_path):
    config = TrainConfig(seeds=2, max_epochs=3, checkpoint_every=1, **QUIET)
    save = runner._save

    def save_then_interrupt(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_jax(config, SPLIT, model=TinyCNN(), out=tmp_path / "run", log=quiet)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="pass the same model= and split= again"):
        resume(tmp_path / "run", log=quiet)
    other = SPLIT._replace(y_test=SPLIT.y_test[::-1].copy())
    with pytest.raises(ConfigError, match="not the one this run trained on"):
        resume(tmp_path / "run", log=quiet, model=TinyCNN(), split=other)
    with pytest.raises(ConfigError, match="parameters"):
        resume(tmp_path / "run", log=quiet, model=Wider(), split=SPLIT)
    lines = []
    resumed = resume(tmp_path / "run", log=lines.append, model=TinyCNN(), split=SPLIT)
    assert any(line.startswith("resuming") for line in lines)
    whole = train_jax(config, SPLIT, model=TinyCNN(), log=quiet)
    for a, b in zip(jax.tree_util.tree_leaves(resumed.params), jax.tree_util.tree_leaves(whole.params)):
        np.testing.assert_array_equal(a, b)
    again = evaluate(tmp_path / "run", model=TinyCNN(), split=SPLIT)
    assert [r["correct"] for r in again] == [r["recorded_correct"] for r in again]
    with pytest.raises(ConfigError, match="pass the same model= and split= again"):
        evaluate(tmp_path / "run")


class Wider(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(nn.relu(nn.Conv(8, (3, 3))(x)).reshape(len(x), -1))


class FiveLogits(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(5)(x.reshape(len(x), -1))


class WithBatchNorm(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(nn.BatchNorm(use_running_average=False)(x.reshape(len(x), -1)))


class WithDropout(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(10)(nn.Dropout(0.5, deterministic=False)(x.reshape(len(x), -1)))


@pytest.mark.parametrize("model, split, message", [
    ("TinyCNN", SPLIT, "must be a flax.linen.Module instance"),
    (TinyCNN(), None, "your own model needs your data"),
    (TinyCNN(), SPLIT._replace(x_train=IMAGES[:300, ..., 0]), "NHWC images"),
    (TinyCNN(), SPLIT._replace(y_val=DIGITS.target[:99]), "one label per image"),
    (FiveLogits(), SPLIT, "gives 5 logits, but the split's labels run to 9"),
    (nn.Conv(10, (3, 3)), SPLIT, r"logits of shape \(batch, classes\)"),
    (WithBatchNorm(), SPLIT, "variables besides its parameters \\(batch_stats"),
    (WithDropout(), SPLIT, "with its parameters alone, as the loop applies it"),
])
def test_what_cannot_run_is_a_one_line_error(model, split, message):
    with pytest.raises(ConfigError, match=message) as error:
        train_jax(TrainConfig(max_epochs=1, **QUIET), split, model=model, log=quiet)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("conv, convolutions", [("auto", 0), ("lax", 1)])
def test_an_own_nn_conv_trains_through_patch_matmuls_on_the_cpu(conv, convolutions):
    """The loop a user's module trains in: on the CPU its nn.Conv runs as patch matmuls (XLA's
    convolution inside a loop is far off its fast path, jax-ml/jax#12868); conv="lax" keeps
    XLA's convolution, so the check can see one."""
    from fmnist_jax.nn.network import own_network
    from fmnist_jax.nn.train import device_data, make_train

    config = TrainConfig(conv=conv, max_epochs=1, **QUIET)
    network = own_network(TinyCNN(), SPLIT, config.conv)
    trainer = make_train(config, network=network)
    state = jax.eval_shape(trainer.init, jax.random.PRNGKey(0), 1e-3)
    hlo = jax.jit(trainer.advance).lower(state, device_data(SPLIT, config), 1).compile().as_text()
    assert (" convolution(" in hlo) == bool(convolutions)
