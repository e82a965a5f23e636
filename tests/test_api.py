"""The Python API as a notebook user calls it, and the README's example, run as written."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fmnist_jax
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SPLIT = synthetic_split(n_train=256, n_val=64, n_test=64)
TINY = TrainConfig(model="simple", seeds=2, max_epochs=2, batch_size=32, eval_batch_size=64,
                   progress=False)


def test_importing_the_package_imports_neither_jax_nor_torch():
    code = ("import sys, fmnist_jax; fmnist_jax.TrainConfig; "
            "print(any(m.split('.')[0] in ('jax', 'torch') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_train_returns_results_parameters_and_summary_in_memory_without_writing():
    run = fmnist_jax.train_jax(TINY, SPLIT, log=lambda *_: None)
    assert run.run_dir is None and len(run.results["runs"]) == 2
    assert run.summary["rows"][0]["count"] == 2 and "| ours |" in run.summary["markdown"]
    assert run.results["protocol"]["n_train"] == 256
    assert run.results["provenance"]["versions"]["jax"]


def test_a_run_directory_holds_the_summary_computed_in_memory(tmp_path):
    run = fmnist_jax.train_jax(TINY, SPLIT, out=tmp_path / "run", log=lambda *_: None)
    assert (tmp_path / "run" / "summary.md").read_text() == run.summary["markdown"]


@pytest.mark.real_data
def test_a_train_subset_larger_than_the_training_set_is_refused(real_data_dir):
    config = TrainConfig(model="simple", train_subset=50_001, progress=False)
    with pytest.raises(ConfigError, match="--train-subset 50001 exceeds the 50000"):
        fmnist_jax.load_split(config, real_data_dir)


def readme_python_example(section: str = "## Python API") -> str:
    """The first Python block after `section` in the README."""
    text = (REPO / "README.md").read_text().split(section, 1)[1]
    return re.search(r"```python\n(.*?)```", text, re.DOTALL).group(1)


@pytest.mark.real_data
def test_the_readme_python_example_runs_as_written_in_a_fresh_shell(real_data_dir, tmp_path):
    """From a checkout beside ../shared/data/fashion-mnist (here links to the real data), with
    no FMNIST_DATA_DIR and an empty user cache, so nothing can be found or downloaded elsewhere."""
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    (shared / "fashion-mnist").symlink_to(real_data_dir)
    (tmp_path / "checkout").mkdir()
    env = {name: value for name, value in os.environ.items() if name != "FMNIST_DATA_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    done = subprocess.run([sys.executable, "-c", readme_python_example()],
                          cwd=tmp_path / "checkout", env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| ours |" in done.stdout and "Verdict" in done.stdout


@pytest.mark.slow
def test_the_readme_own_model_example_runs_as_written_offline(tmp_path):
    """A Flax module and its torch twin on scikit-learn's digits, 3 seeds each, compared: in a
    fresh shell with no data directory at all."""
    pytest.importorskip("torch")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty-cache")}
    env.pop("FMNIST_DATA_DIR", None)
    done = subprocess.run([sys.executable, "-c", readme_python_example("### Your own model")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "digits-cnn" in done.stdout and "Verdict" in done.stdout
    for framework in ("jax", "torch"):
        results = json.loads((tmp_path / "runs" / f"digits-{framework}" / "results.json").read_text())
        assert len(results["runs"]) == 3 and results["own_model"]["classes"] == 10
        assert all(run["stopped"] == "patience" for run in results["runs"])  # each seed its own
        assert min(run["test_accuracy"] for run in results["runs"]) > 0.85


def test_every_exported_name_resolves():
    assert sorted(fmnist_jax.__all__) == sorted(fmnist_jax._EXPORTS)
    for name in fmnist_jax.__all__:
        assert getattr(fmnist_jax, name) is not None
