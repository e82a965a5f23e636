"""The PyTorch reference: its models, its training run and run directory, and that it needs no
JAX."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fmnist_jax.api import train_torch
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.reporting.rundir import read_history, read_json
from torch_ref import cli
from torch_ref.models import build_model
from torch_ref.train import dataset, datasets, evaluate, load_checkpoint, train_run

REPO = Path(__file__).resolve().parent.parent
RUN_KEYS = {"seed", "learning_rate", "test_accuracy", "test_loss", "confusion_matrix", "epochs",
            "stopped", "best_val_loss", "best_epoch", "time_s"}


@pytest.fixture(scope="module")
def tiny_split():
    return synthetic_split(n_train=256, n_val=64, n_test=64)


@pytest.fixture(scope="module")
def tiny_run(tiny_split, tmp_path_factory):
    """Two seeds of the simple model, two epochs each, written to a run directory."""
    out = tmp_path_factory.mktemp("torch-run")
    config = TrainConfig(model="simple", max_epochs=2, seeds=2, progress=False)
    return out, train_torch(config, tiny_split, out=out).results


@pytest.mark.parametrize("model, weights", [
    ("simple", [(784, 784), (784, 784), (10, 784)]),
    ("big", [(784, 784)] * 5 + [(10, 784)]),
    ("cnn", [(32, 1, 3, 3), (1024, 32, 3, 3), (784, 50176), (784, 784), (10, 784)]),
])
def test_models_follow_the_study_architectures(model, weights):
    state = build_model(model).state_dict()
    assert [tuple(v.shape) for k, v in state.items() if k.endswith("weight")] == weights


def test_cnn_takes_nchw_images_and_gives_ten_logits():
    assert build_model("cnn")(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_run_directory_holds_one_result_per_seed_in_the_shared_format(tiny_run):
    out, _ = tiny_run
    results = read_json(out / "results.json")
    assert results["framework"] == "torch" and results["model"] == "simple"
    assert [r["seed"] for r in results["runs"]] == [0, 1]
    assert all(set(r) == RUN_KEYS for r in results["runs"])
    assert all(r["epochs"] == 2 and r["stopped"] == "max_epochs" for r in results["runs"])
    assert read_json(out / "config.json")["framework"] == "torch"
    assert len(read_history(out)) == 4
    assert (out / "summary.md").is_file()


def test_confusion_matrix_counts_every_test_image(tiny_run, tiny_split):
    _, results = tiny_run
    for run in results["runs"]:
        matrix = np.array(run["confusion_matrix"])
        assert matrix.sum() == len(tiny_split.y_test)
        assert np.trace(matrix) / matrix.sum() == pytest.approx(run["test_accuracy"])


def test_checkpoint_holds_the_tested_weights(tiny_run, tiny_split):
    out, results = tiny_run
    states = load_checkpoint(out)
    assert list(states) == ["seed-0-lr-0.001", "seed-1-lr-0.001"]
    model = build_model("simple")
    model.load_state_dict(states["seed-1-lr-0.001"])
    loader = torch.utils.data.DataLoader(dataset(tiny_split.x_test, tiny_split.y_test), 1000)
    assert evaluate(model, loader, torch.device("cpu"))["confusion_matrix"] == \
        results["runs"][1]["confusion_matrix"]


def test_same_seed_trains_the_same_run(tiny_split):
    config = TrainConfig(model="simple", max_epochs=1, progress=False)
    data = datasets(tiny_split)
    first, second = (train_run(config, data, 3, 1e-3, torch.device("cpu"))[0] for _ in range(2))
    assert first["history"] == second["history"]
    assert first["test_loss"] == second["test_loss"]


def test_training_stops_once_validation_loss_stalls_for_patience_epochs(tiny_split):
    config = TrainConfig(model="simple", max_epochs=50, patience=2, progress=False)
    data = datasets(tiny_split)
    run, _ = train_run(config, data, 0, 0.0, torch.device("cpu"))  # lr 0: the loss never moves
    assert (run["epochs"], run["best_epoch"], run["stopped"]) == (3, 1, "patience")


def test_refuses_to_write_into_a_finished_run_directory(tmp_path, capsys):
    (tmp_path / "results.json").write_text("{}")
    assert cli.main(["--model", "simple", "--out", str(tmp_path)]) == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_trains_and_writes_a_run_with_jax_blocked(tmp_path):
    """torch_ref imports and runs where JAX, Flax and optax cannot be imported."""
    script = f"""
import sys
for name in ("jax", "jaxlib", "flax", "optax"):
    sys.modules[name] = None
import torch
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.api import train_torch
from torch_ref.cli import main

config = TrainConfig(model="simple", max_epochs=1, progress=False)
train_torch(config, synthetic_split(128, 32, 32), out={str(tmp_path / "run")!r})
try:
    main(["--help"])
except SystemExit as exit:
    assert exit.code == 0
loaded = [m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "flax", "optax")]
assert all(sys.modules[m] is None for m in loaded), loaded
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "results.json").is_file()


def test_torch_func_seeds_train_as_the_same_models_one_after_the_other():
    from torch_ref.func_seeds import FuncSeeds
    from torch_ref.train import train_step

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(3, 16, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (3, 16), generator=generator)
    stacked = FuncSeeds("simple", 3, 1e-3, torch.device("cpu"))
    gradients = stacked.gradients(stacked.params, stacked.buffers, images, labels)
    for _ in range(3):
        stacked.step(images, labels)
    for seed in range(3):
        torch.manual_seed(seed)
        model = build_model("simple")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        torch.nn.functional.cross_entropy(model(images[seed]), labels[seed]).backward()
        for name, value in model.named_parameters():  # the same models, the same gradients
            torch.testing.assert_close(gradients[name][seed], value.grad, rtol=1e-4, atol=1e-6)
        for _ in range(3):
            train_step(model, optimizer, images[seed], labels[seed])
        for name, value in model.named_parameters():
            # Adam's first steps move a weight by about lr whatever its gradient's size, so a
            # rounding difference in a near-zero gradient shows up to lr / 10 apart
            torch.testing.assert_close(stacked.params[name][seed], value.detach(), atol=1e-4,
                                       rtol=0)
