"""Interruption and resume: a run killed with SIGKILL and resumed ends bit-identical."""

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from flax import serialization

from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.nn import runner

QUICK = ["--model", "simple", "--max-epochs", "4", "--train-subset", "2000",
         "--checkpoint-every", "1", "--quiet"]


def fmnist_args(*args):
    return [sys.executable, "-m", "fmnist_jax", *map(str, args)]


def finished(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    params = serialization.msgpack_restore((run_dir / "checkpoint.msgpack").read_bytes())
    return results["runs"], params


def assert_same_runs(straight, resumed):
    """Results (but their times), parameters and histories of two run directories are equal."""
    (runs_a, params_a), (runs_b, params_b) = finished(straight), finished(resumed)
    assert [{k: v for k, v in run.items() if k != "time_s"} for run in runs_a] == \
        [{k: v for k, v in run.items() if k != "time_s"} for run in runs_b]
    flat_a, flat_b = serialization.to_state_dict(params_a), serialization.to_state_dict(params_b)
    for layer in flat_a:
        for name in flat_a[layer]:
            np.testing.assert_array_equal(flat_a[layer][name], flat_b[layer][name])
    assert (straight / "history.csv").read_text() == (resumed / "history.csv").read_text()


def kill_once_saved(args, out, state_file):
    """Runs `fmnist *args --out out` and SIGKILLs it as soon as it saved `state_file`."""
    process = subprocess.Popen(fmnist_args(*args, "--out", out), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    state = out / "checkpoints" / state_file
    deadline = time.monotonic() + 300
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert state.exists() and not (out / "results.json").exists(), "was not killed mid-run"


def kill_after_first_checkpoint(out, data_dir, seeds):
    kill_once_saved(["train", *QUICK, "--seeds", seeds, "--data-dir", data_dir], out,
                    "chunk-0-state.msgpack")


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("seeds", [1, 4])
def test_resume_after_kill_is_bit_identical_to_an_uninterrupted_run(real_data_dir, tmp_path, seeds):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(fmnist_args("train", *QUICK, "--seeds", seeds, "--out", straight,
                               "--data-dir", real_data_dir), check=True, capture_output=True)
    kill_after_first_checkpoint(killed, real_data_dir, seeds)

    again = subprocess.run(fmnist_args("train", *QUICK, "--seeds", seeds, "--out", killed,
                                       "--data-dir", real_data_dir), capture_output=True, text=True,
                           check=False)
    assert again.returncode != 0 and "--resume" in again.stderr
    subprocess.run(fmnist_args("train", "--resume", killed, "--data-dir", real_data_dir),
                   check=True, capture_output=True)

    assert_same_runs(straight, killed)
    assert not (killed / "checkpoints").exists()


@pytest.mark.slow
@pytest.mark.real_data
def test_an_interrupted_torch_run_resumes_bit_identical(real_data_dir, tmp_path):
    """Model, optimizer, data order and RNG states come back whole: 2 seeds, killed in the
    first seed's second epoch, resumed, end as an uninterrupted run."""
    torch = pytest.importorskip("torch")
    args = ["torch", *QUICK, "--max-epochs", "3", "--seeds", "2", "--data-dir", real_data_dir]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(fmnist_args(*args, "--out", straight), check=True, capture_output=True)
    kill_once_saved(args, killed, "run-0-state.pt")
    resumed = subprocess.run(fmnist_args("torch", "--resume", killed), check=True,
                             capture_output=True, text=True)
    assert re.search(rf"^resuming {re.escape(str(killed / 'checkpoints'))} at epoch [12] "
                     r"\(run 1 of 2\)$", resumed.stdout, re.MULTILINE), resumed.stdout

    runs = [json.loads((d / "results.json").read_text())["runs"] for d in (straight, killed)]
    assert [{k: v for k, v in r.items() if k != "time_s"} for r in runs[0]] == \
        [{k: v for k, v in r.items() if k != "time_s"} for r in runs[1]]
    assert (straight / "history.csv").read_text() == (killed / "history.csv").read_text()
    weights = [torch.load(d / "checkpoint.pt", weights_only=True) for d in (straight, killed)]
    for run in weights[0]:
        for name, tensor in weights[0][run].items():
            assert torch.equal(tensor, weights[1][run][name]), (run, name)


def test_resuming_a_directory_without_a_run_is_a_one_line_error(tmp_path):
    result = subprocess.run(fmnist_args("train", "--resume", tmp_path), capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2 and "holds no interrupted run" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.real_data
def test_resume_after_a_finished_chunk_keeps_it_and_trains_the_rest(real_data_dir, tmp_path):
    args = ["train", *QUICK, "--seeds", "4", "--seed-chunk", "2", "--data-dir", real_data_dir]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(fmnist_args(*args, "--out", straight), check=True, capture_output=True)
    kill_once_saved(args, killed, "chunk-0-done.msgpack")
    subprocess.run(fmnist_args("train", "--resume", killed), check=True, capture_output=True)
    assert_same_runs(straight, killed)


SPLIT = synthetic_split(n_train=256, n_val=64, n_test=64)
TINY = {"model": "simple", "batch_size": 32, "eval_batch_size": 64, "progress": False,
        "max_epochs": 3, "checkpoint_every": 1, "seeds": 2}


def interrupt_after_first_save(monkeypatch, module):
    """The next training stops (KeyboardInterrupt) right after it saves its first checkpoint."""
    save = module._save

    def save_then_interrupt(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_save", save_then_interrupt)


def test_a_resumed_jax_training_says_where_and_at_which_epoch(monkeypatch, tmp_path):
    """Interrupted after the first chunk's first checkpoint, it resumes that chunk at epoch 1;
    with the first chunk finished and the second lost, the second at epoch 0."""
    config = TrainConfig(**{**TINY, "seeds": 4, "seed_chunk": 2})
    interrupt_after_first_save(monkeypatch, runner)
    first = []
    with pytest.raises(KeyboardInterrupt):
        runner.train_runs(config, SPLIT, log=first.append, checkpoint_dir=tmp_path)
    monkeypatch.undo()
    resumed = []
    runner.train_runs(config, SPLIT, log=resumed.append, checkpoint_dir=tmp_path)
    (tmp_path / "chunk-1-done.msgpack").unlink()
    again = []
    runner.train_runs(config, SPLIT, log=again.append, checkpoint_dir=tmp_path)
    assert not any(line.startswith("resuming") for line in first)
    assert f"resuming {tmp_path} at epoch 1 (runs 1-2 of 4)" in resumed
    assert f"resuming {tmp_path} at epoch 0 (runs 3-4 of 4)" in again


def test_a_resumed_torch_training_says_where_and_at_which_epoch(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    from torch_ref import train as torch_train

    config = TrainConfig(**TINY)
    interrupt_after_first_save(monkeypatch, torch_train)
    with pytest.raises(KeyboardInterrupt):
        torch_train.train_runs(config, SPLIT, checkpoint_dir=tmp_path, log=lambda *_: None)
    monkeypatch.undo()
    resumed = []
    torch_train.train_runs(config, SPLIT, checkpoint_dir=tmp_path, log=resumed.append)
    assert resumed[0] == f"resuming {tmp_path} at epoch 1 (run 1 of 2)"
