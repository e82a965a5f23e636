"""Many runs in one compiled program: vmapped seeds, chunks, learning rates, devices."""

import json
import os
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import jax
import numpy as np
import pytest

from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.nn import runner
from fmnist_jax.nn.network import memory_per_run_bytes, study_network
from fmnist_jax.nn.runner import train_runs

SPLIT = synthetic_split(n_train=400, n_val=100, n_test=100)
SMALL = {"model": "simple", "batch_size": 32, "eval_batch_size": 64, "progress": False}
# A run alone is computed with unbatched matmuls, a run among others with batched ones: the
# reduction order differs, so results agree to float32 rounding, not bit for bit.
ALONE_VS_BATCHED_ATOL = 1e-5


def train(**overrides):
    return train_runs(TrainConfig(**{**SMALL, **overrides}), SPLIT, log=lambda *_: None)


def leaves(params, index=None):
    return [np.asarray(x if index is None else x[index]) for x in jax.tree_util.tree_leaves(params)]


@pytest.fixture(scope="module")
def eight():
    """Seeds 0-7 that early-stop on their own epochs (one compile shared by several tests)."""
    return train(seeds=8, max_epochs=40, patience=3)


def test_each_seed_gets_its_own_initialisation_and_shuffling(eight):
    accuracies = [run["test_accuracy"] for run in eight.results["runs"]]
    first_layers = [leaves(eight.params, i)[0] for i in range(8)]
    assert len(set(accuracies)) > 1
    assert not np.allclose(first_layers[0], first_layers[1])


def test_early_stopping_is_per_seed_and_finished_seeds_stay_frozen(eight):
    runs = eight.results["runs"]
    assert len({run["epochs"] for run in runs}) > 1
    for run in runs:
        assert run["stopped"] == "patience" and run["epochs"] - run["best_epoch"] == 3
        assert len(run["history"]["val_loss"]) == run["epochs"]


def test_a_seed_gives_the_same_result_alone_as_among_eight(eight):
    alone = train(seed=3, seeds=1, max_epochs=40, patience=3)
    run, among = alone.results["runs"][0], eight.results["runs"][3]
    assert (run["seed"], run["epochs"]) == (3, among["epochs"])
    assert run["test_accuracy"] == pytest.approx(among["test_accuracy"], abs=0.011)
    for a, b in zip(leaves(alone.params, 0), leaves(eight.params, 3)):
        np.testing.assert_allclose(a, b, atol=ALONE_VS_BATCHED_ATOL)


def test_the_same_seeds_give_bit_identical_results_in_two_runs():
    first, second = train(seeds=2, max_epochs=2), train(seeds=2, max_epochs=2)
    for a, b in zip(leaves(first.params), leaves(second.params)):
        np.testing.assert_array_equal(a, b)


def test_seed_chunks_of_two_or_more_train_bit_identical_parameters():
    """On one device a batched matmul computes each run alone, whatever the batch: chunks of
    2 and of 4 give the same parameters bit for bit; the test pass, another program shape,
    agrees to rounding."""
    whole = train(seeds=4, max_epochs=3)
    chunked = train(seeds=4, max_epochs=3, seed_chunk=2)
    for a, b in zip(leaves(whole.params), leaves(chunked.params)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose([r["test_loss"] for r in whole.results["runs"]],
                               [r["test_loss"] for r in chunked.results["runs"]], rtol=1e-6)


def test_learning_rate_axis_trains_every_rate_for_every_seed():
    grid = train(seeds=2, learning_rates=(1e-3, 1e-2), max_epochs=3)
    pairs = [(r["seed"], r["learning_rate"]) for r in grid.results["runs"]]
    assert pairs == [(0, 1e-3), (1, 1e-3), (0, 1e-2), (1, 1e-2)]
    alone = train(seeds=2, learning_rates=(1e-2,), max_epochs=3)
    for a, b in zip(leaves(grid.params), leaves(alone.params)):
        np.testing.assert_array_equal(a[2:], b)


def test_memory_estimate_grows_with_the_model():
    configs = [TrainConfig(model=m) for m in ("simple", "big", "cnn")]
    sizes = [memory_per_run_bytes(study_network(config), config) for config in configs]
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[2] > 4 * 4 * 40_258_314  # parameters, gradients and two Adam moments


SHARDED = """
import json, sys
import jax
if len(sys.argv) > 1:  # process id, process count, coordinator port
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{sys.argv[3]}", int(sys.argv[2]), int(sys.argv[1]))
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.nn.runner import train_runs
import os
results = []
for seeds in os.environ.get("SEEDS", "4").split(","):
    logs = []
    outcome = train_runs(TrainConfig(model="simple", batch_size=32, eval_batch_size=64,
                                     progress=False, seeds=int(seeds), max_epochs=2),
                         synthetic_split(n_train=400, n_val=100, n_test=100), log=logs.append)
    results.append({"devices_used": outcome.results["devices_used"], "log": logs[0],
                    "device": outcome.results["device"],
                    "runs": [[r["test_accuracy"], r["test_loss"]] for r in outcome.results["runs"]]})
print("RESULT", json.dumps({"devices": len(jax.devices()), "processes": jax.process_count(),
                            **results[0], "by_seeds": results}), flush=True)
"""


def run_with_devices(count: int, seeds=(4,)) -> dict:
    """SHARDED on `count` forced host devices, once for each number of `seeds` (the first's
    results at the top level, all of them under "by_seeds")."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}",
           "SEEDS": ",".join(map(str, seeds))}
    result = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True,
                            env=env, timeout=600, check=True)
    return parse_result(result.stdout)


def parse_result(stdout: str) -> dict:
    """The worker's RESULT line (gloo prints its own lines to stdout too)."""
    return json.loads(next(line for line in stdout.splitlines() if line.startswith("RESULT "))[7:])


# Over 4 devices each device runs a sharded program, which sums in another order than the
# same runs on one device (measured: 3e-6 in most parameters after an epoch). Adam's first
# updates, lr * g / (|g| + eps), magnify that near g = 0 (slope lr / eps = 1e5): single
# parameters drift up to 1e-2 apart within two epochs, so runs agree statistically, not bit
# for bit. The tolerance: 2 of these 100 test images, and 0.02 in test loss.
SHARDED_ACCURACY_TOLERANCE, SHARDED_LOSS_TOLERANCE = 0.02, 0.02


@pytest.mark.slow
def test_sharding_seeds_over_four_devices_agrees_within_the_stated_tolerance():
    one, four = run_with_devices(1), run_with_devices(4)
    assert (one["devices"], four["devices"]) == (1, 4)
    for (acc_1, loss_1), (acc_4, loss_4) in zip(one["runs"], four["runs"]):
        assert acc_1 == pytest.approx(acc_4, abs=SHARDED_ACCURACY_TOLERANCE)
        assert loss_1 == pytest.approx(loss_4, abs=SHARDED_LOSS_TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("seeds, devices", [(5, 4), (8, 3)])
def test_runs_that_do_not_divide_the_devices_are_padded_to_keep_every_device_busy(seeds, devices):
    """5 runs on 4 devices train in a chunk of 8 (2 a device) and give, bit for bit, the
    first 5 of 8 runs on 4 devices; 8 on 3 likewise the first 8 of 9."""
    padded, full = run_with_devices(devices, (seeds, -(-seeds // devices) * devices))["by_seeds"]
    assert padded["devices_used"] == devices
    assert f"on {devices} device(s)" in padded["log"] and "padding" in padded["log"]
    assert padded["device"] == f"{devices} x cpu (cpu)"
    assert padded["runs"] == full["runs"][:seeds]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_loopback_train_like_one_process_with_two_devices():
    port = str(free_port())
    env = {**os.environ, "XLA_FLAGS": ""}
    workers = [subprocess.Popen([sys.executable, "-c", SHARDED, str(i), "2", port], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    outputs = [parse_result(w.communicate(timeout=600)[0]) for w in workers]
    reference = run_with_devices(2)
    for output in outputs:
        assert (output["devices"], output["processes"]) == (2, 2)
        assert output["runs"] == reference["runs"]


def test_a_diverging_learning_rate_is_marked_and_the_other_runs_finish():
    outcome = train(seeds=2, learning_rates=(1e-3, 1e30), max_epochs=3)
    stopped = [(r["learning_rate"], r["stopped"]) for r in outcome.results["runs"]]
    assert stopped == [(1e-3, "max_epochs")] * 2 + [(1e30, "diverged")] * 2
    assert all(r["epochs"] == 3 for r in outcome.results["runs"][:2])


def test_wall_time_counts_the_training_even_without_progress_output(monkeypatch):
    """Without progress output nothing waits for the compiled epochs, which run asynchronously:
    the clock reading that ends the wall time must come once they are done, nothing pending."""
    pending_at_reading = []

    def clock() -> float:
        pending_at_reading.append(sum(not array.is_ready() for array in jax.live_arrays()))
        return time.perf_counter()

    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=clock))
    quiet = train(seeds=2, max_epochs=10, patience=10)
    assert pending_at_reading[-1] == 0 and quiet.results["wall_time_s"] > 0


def test_a_padded_last_chunk_trains_every_seed_once():
    """5 seeds in chunks of 2: the last chunk is padded to 2 and the padding dropped."""
    five = train(seeds=5, seed_chunk=2, max_epochs=2)
    alone = train(seed=4, seeds=2, max_epochs=2)  # seed 4 in a chunk of two, as above
    assert [r["seed"] for r in five.results["runs"]] == [0, 1, 2, 3, 4]
    assert jax.tree_util.tree_leaves(five.params)[0].shape[0] == 5
    np.testing.assert_array_equal(leaves(five.params, 4)[0], leaves(alone.params, 0)[0])


def test_diverged_runs_are_written_as_strict_json(tmp_path):
    from fmnist_jax.api import train_jax as api_train

    config = TrainConfig(**SMALL, seeds=2, learning_rates=(1e30,), max_epochs=2)
    api_train(config, SPLIT, out=tmp_path / "run", log=lambda *_: None)
    for name in ("results.json", "summary.json", "config.json"):
        text = (tmp_path / "run" / name).read_text()
        json.loads(text, parse_constant=lambda constant, name=name: pytest.fail(f"{constant} in {name}"))
    assert json.loads((tmp_path / "run" / "results.json").read_text())["runs"][0]["test_loss"] is None


def test_checkpoint_every_zero_writes_no_checkpoints(tmp_path):
    from fmnist_jax.api import train_jax as api_train

    config = TrainConfig(**SMALL, max_epochs=2, checkpoint_every=0)
    run = api_train(config, SPLIT, out=tmp_path / "run", log=lambda *_: None)
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert run.results["runs"][0]["epochs"] == 2


def test_restore_best_tests_the_best_epochs_parameters_end_to_end(tmp_path):
    from fmnist_jax.api import train_jax as api_train

    config = TrainConfig(**SMALL, max_epochs=40, patience=3, restore_best=True)
    run = api_train(config, SPLIT, out=tmp_path / "run", log=lambda *_: None)
    last = train(max_epochs=40, patience=3)
    assert run.results["runs"][0]["best_epoch"] < run.results["runs"][0]["epochs"]
    assert run.results["runs"][0]["test_loss"] != last.results["runs"][0]["test_loss"]
    assert not np.array_equal(leaves(run.params)[0], leaves(last.params)[0])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["restore_best"] is True


@pytest.mark.slow
@pytest.mark.real_data
def test_the_command_trains_over_two_processes_and_process_0_writes(real_data_dir, tmp_path):
    port = str(free_port())
    args = ["train", "--model", "simple", "--seeds", "2", "--max-epochs", "1", "--quiet",
            "--train-subset", "512", "--data-dir", str(real_data_dir),
            "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
    env = {**os.environ, "XLA_FLAGS": ""}
    workers = [subprocess.Popen([sys.executable, "-m", "fmnist_jax", *args, "--process-id", str(i),
                                 "--out", str(tmp_path / f"out{i}")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr[-2000:]
    results = json.loads((tmp_path / "out0" / "results.json").read_text())
    assert [run["seed"] for run in results["runs"]] == [0, 1]
    assert results["device"].startswith("2 x cpu")
    assert not (tmp_path / "out1").exists()
