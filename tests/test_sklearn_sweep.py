"""The sklearn MLPClassifier sweep: the study's grid, the CSV that survives kills, resume."""

import argparse
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from fmnist_jax import sklearn_sweep as sweep
from fmnist_jax.cli import sweep_cmd
from fmnist_jax.config import ConfigError
from fmnist_jax.data import sklearn_view, synthetic_raw
from fmnist_jax.sweep_report import markdown

REPO = Path(__file__).resolve().parent.parent

# The study's sweep table, row by row: name, hidden layers, neurons, activation, solver, learning
# rate, lr init, early stopping, fit time (s), test accuracy.
STUDY_TABLE = [
    ("base", 1, 100, "relu", "sgd", "constant", 0.001, False, 251.1, 0.8807),
    ("layers-2", 2, 100, "relu", "sgd", "constant", 0.001, False, 198.2, 0.8721),
    ("layers-4", 4, 100, "relu", "sgd", "constant", 0.001, False, 168.5, 0.8735),
    ("layers-8", 8, 100, "relu", "sgd", "constant", 0.001, False, 175.0, 0.8690),
    ("layers-16", 16, 100, "relu", "sgd", "constant", 0.001, False, 274.8, 0.8581),
    ("neurons-20", 1, 20, "relu", "sgd", "constant", 0.001, False, 155.8, 0.8520),
    ("neurons-50", 1, 50, "relu", "sgd", "constant", 0.001, False, 263.4, 0.8704),
    ("neurons-200", 1, 200, "relu", "sgd", "constant", 0.001, False, 379.7, 0.8862),
    ("neurons-500", 1, 500, "relu", "sgd", "constant", 0.001, False, 730.3, 0.8921),
    ("activation-logistic", 1, 100, "logistic", "sgd", "constant", 0.001, False, 627.0, 0.8800),
    ("activation-tanh", 1, 100, "tanh", "sgd", "constant", 0.001, False, 282.7, 0.8773),
    ("solver-adam", 1, 100, "relu", "adam", "constant", 0.001, False, 41.2, 0.8756),
    ("solver-lbfgs", 1, 100, "relu", "lbfgs", "constant", 0.001, False, 85.9, 0.8745),
    ("lr-invscaling", 1, 100, "relu", "sgd", "invscaling", 0.001, False, 15.7, 0.7880),
    ("lr-adaptive", 1, 100, "relu", "sgd", "adaptive", 0.001, False, 288.1, 0.8798),
    ("lr-0.1", 1, 100, "relu", "sgd", "constant", 0.1, False, 18.4, 0.8704),
    ("lr-0.01", 1, 100, "relu", "sgd", "constant", 0.01, False, 67.6, 0.8824),
    ("lr-0.0001", 1, 100, "relu", "sgd", "constant", 0.0001, False, 521.5, 0.8814),
    ("early-stopping-True", 1, 100, "relu", "sgd", "constant", 0.001, True, 28.6, 0.8783),
]

# Sleeps in every fit but lr-0.1's, so the test can SIGKILL it after exactly one row landed.
KILLABLE_SWEEP = """
import sys, time
from fmnist_jax import sklearn_sweep as sweep
from fmnist_jax.data import sklearn_view, synthetic_raw
fit = sweep.fit_config
def slow_after_first(config, *args, **kwargs):
    if config.name != "lr-0.1":
        time.sleep(600)
    return fit(config, *args, **kwargs)
sweep.fit_config = slow_after_first
sweep.run_sweep(sweep.select("lr-0.1,base"), sklearn_view(synthetic_raw(300, 100)), sys.argv[1],
                max_iter=2, log=lambda line: None)
"""


@pytest.fixture(scope="module")
def tiny_data():
    return sklearn_view(synthetic_raw(300, 100))


def quiet_sweep(configs: str, data, out, **kwargs) -> list[str]:
    """Runs the sweep with max_iter 2 (unless given) and returns its progress lines."""
    lines = []
    sweep.run_sweep(sweep.select(configs), data, out, log=lines.append,
                    **{"max_iter": 2, **kwargs})
    return lines


def test_grid_is_the_studys_table_plus_the_large_model():
    assert len(sweep.GRID) == 20
    assert [c.name for c in sweep.GRID] == [row[0] for row in STUDY_TABLE] + ["large"]
    for name, layers, neurons, activation, solver, schedule, lr, early, fit, acc in STUDY_TABLE:
        config = sweep.BY_NAME[name]
        assert config.params == {**sweep.BASE, "hidden_layer_sizes": (neurons,) * layers,
                                 "activation": activation, "solver": solver,
                                 "learning_rate": schedule, "learning_rate_init": lr,
                                 "early_stopping": early}
        assert (config.published_fit_time_s, config.published_accuracy) == (fit, acc)
        assert len(config.change) == (name != "base")


def test_base_case_is_the_studys_and_leaves_sklearn_defaults_alone():
    params = sweep.make_estimator(sweep.BY_NAME["base"], seed=3).get_params()
    assert params["hidden_layer_sizes"] == (100,) and params["max_iter"] == 10000
    assert (params["solver"], params["learning_rate_init"], params["early_stopping"]) == (
        "sgd", 0.001, False)
    assert (params["tol"], params["alpha"], params["batch_size"]) == (1e-4, 1e-4, "auto")
    assert params["random_state"] == 3


def test_large_model_is_adam_with_early_stopping():
    params = sweep.BY_NAME["large"].params
    assert params["hidden_layer_sizes"] == (841, 841, 841, 500, 300, 69)
    assert (params["solver"], params["early_stopping"]) == ("adam", True)
    assert sweep.BY_NAME["large"].published_accuracy == 0.891


def test_published_large_confusion_matrix_has_1000_images_per_class():
    matrix = sweep.PUBLISHED_LARGE_CONFUSION
    assert matrix.shape == (10, 10)
    assert (matrix.sum(axis=1) == 1000).all()
    assert np.trace(matrix) == 8796


def test_select_keeps_the_order_given_and_rejects_unknown_names():
    assert [c.name for c in sweep.select("lr-0.1, base")] == ["lr-0.1", "base"]
    assert len(sweep.select("all")) == 20
    with pytest.raises(ConfigError, match="bse"):
        sweep.select("base,bse")


def test_tiny_run_writes_one_valid_row_per_configuration(tiny_data, tmp_path):
    quiet_sweep("base,solver-lbfgs", tiny_data, tmp_path)
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert [row["name"] for row in rows] == ["base", "solver-lbfgs"]
    for row in rows:
        assert tuple(row) == sweep.ROW_FIELDS
        assert (row["max_iter"], row["n_train"], row["n_iter"]) == ("2", "300", "2")
        matrix = np.array(row["confusion_matrix"].split(), dtype=int)
        assert matrix.size == 100 and matrix.sum() == 100
        assert float(row["test_accuracy"]) == pytest.approx(
            np.trace(matrix.reshape(10, 10)) / 100)


def test_convergence_warning_becomes_a_field_not_output(tiny_data, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_sweep("base", tiny_data, tmp_path, max_iter=1)
    assert not [w for w in caught if "converge" in str(w.message).lower()]
    assert sweep.read_results(tmp_path / sweep.RESULTS_CSV)[0]["converged"] == "False"


def test_resume_skips_finished_configurations(tiny_data, tmp_path):
    quiet_sweep("base", tiny_data, tmp_path)
    first = sweep.read_results(tmp_path / sweep.RESULTS_CSV)[0]
    lines = quiet_sweep("base,lr-0.1", tiny_data, tmp_path)
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert [row["name"] for row in rows] == ["base", "lr-0.1"]
    assert rows[0] == first
    assert lines[0].startswith("sweep (sklearn): 1 fit(s) to run, 1 already in")


def test_resume_refuses_results_run_with_other_settings(tiny_data, tmp_path):
    quiet_sweep("base", tiny_data, tmp_path)
    with pytest.raises(ConfigError, match="max_iter=2"):
        quiet_sweep("lr-0.1", tiny_data, tmp_path, max_iter=3)


def test_incomplete_last_line_is_dropped_and_cut_before_the_next_row(tiny_data, tmp_path):
    quiet_sweep("base", tiny_data, tmp_path)
    path = tmp_path / sweep.RESULTS_CSV
    with open(path, "a") as f:
        f.write("lr-0.1,100,relu,sgd,const")
    assert [row["name"] for row in sweep.read_results(path)] == ["base"]
    quiet_sweep("base,lr-0.1", tiny_data, tmp_path)
    assert [row["name"] for row in sweep.read_results(path)] == ["base", "lr-0.1"]
    assert "const\n" not in path.read_text()


def test_parallel_jobs_write_every_row(tiny_data, tmp_path):
    lines = quiet_sweep("base,lr-0.1,solver-adam", tiny_data, tmp_path, n_jobs=2)
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert sorted(row["name"] for row in rows) == ["base", "lr-0.1", "solver-adam"]
    assert "2 job(s)" in lines[0]
    assert lines[-1].startswith("[done 3/3")


def test_sigkilled_sweep_leaves_a_readable_csv_and_rerun_finishes_the_rest(tiny_data, tmp_path):
    path = tmp_path / sweep.RESULTS_CSV
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", KILLABLE_SWEEP, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not sweep.read_results(path) and time.monotonic() < deadline:
            assert process.poll() is None, "the sweep exited before it was killed"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert [row["name"] for row in sweep.read_results(path)] == ["lr-0.1"]
    lines = quiet_sweep("lr-0.1,base", tiny_data, tmp_path)
    assert lines[0].startswith("sweep (sklearn): 1 fit(s) to run, 1 already in")
    assert [row["name"] for row in sweep.read_results(path)] == ["lr-0.1", "base"]


def test_summary_puts_ours_beside_the_studys(tiny_data, tmp_path):
    quiet_sweep("lr-0.1", tiny_data, tmp_path)
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    table = markdown(rows)
    ours = float(rows[0]["test_accuracy"])
    line = next(line for line in table.splitlines() if line.startswith("| lr-0.1 |"))
    assert f"| 1 | {ours:.4f} | n/a | 0.8704 | {ours - 0.8704:+.4f} |" in line
    assert "| base | base case | 0 | - | - | 0.8807 |" in table


def test_many_seeds_give_intervals_and_a_corrected_test_against_the_base_case(tiny_data,
                                                                              tmp_path):
    quiet_sweep("base,lr-0.1", tiny_data, tmp_path, seeds=range(3))
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert sorted((row["name"], row["random_state"]) for row in rows) == [
        (name, str(seed)) for name in ("base", "lr-0.1") for seed in range(3)]
    line = next(line for line in markdown(rows).splitlines() if line.startswith("| lr-0.1 |"))
    cells = [cell.strip() for cell in line.split("|")[1:-1]]
    assert cells[2] == "3" and "–" in cells[4] and cells[8].startswith(("+", "-"))
    assert cells[9] != "-"  # Holm-adjusted Welch p-value against the base case


def test_holm_correction_multiplies_the_smallest_p_value_by_the_number_of_tests():
    from fmnist_jax.sweep_report import holm

    adjusted = holm([0.01, 0.04, float("nan"), 0.03])
    assert adjusted[0] == pytest.approx(0.03) and adjusted[3] == pytest.approx(0.06)
    assert adjusted[1] == pytest.approx(0.06) and np.isnan(adjusted[2])


def test_the_jax_engine_fits_every_seed_of_a_configuration_in_one_program(tiny_data, tmp_path):
    lines = quiet_sweep("base,solver-adam", tiny_data, tmp_path, engine="jax", seeds=range(3))
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert len(rows) == 6 and {row["engine"] for row in rows} == {"jax"}
    assert {row["n_iter"] for row in rows} == {"2"}
    assert lines[0].startswith("sweep (jax): 6 fit(s) to run")
    with pytest.raises(ConfigError, match="--engine jax"):
        quiet_sweep("base", tiny_data, tmp_path, engine="sklearn")


SIGINT_SWEEP = ["sweep", "--configs", "base", "--max-iter", "60", "--train-subset", "10000"]
CTRL_C_HANDLED = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                  "from fmnist_jax.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.real_data
def test_ctrl_c_during_a_fit_records_nothing_and_a_rerun_finishes_it(real_data_dir, tmp_path):
    """sklearn catches Ctrl-C inside fit and returns early: that must not become a row."""
    # a shell's background job starts with SIGINT ignored, and Python keeps it so: handle it
    # as a terminal's Ctrl-C finds it, whoever started the tests
    args = [sys.executable, "-c", CTRL_C_HANDLED, *SIGINT_SWEEP, "--out", str(tmp_path),
            "--data-dir", str(real_data_dir)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().startswith("sweep (sklearn): 1 fit(s) to run")
    time.sleep(3)  # inside the fit: 60 iterations on 10000 images take far longer
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "run the same command again" in stderr and len(stderr.strip().splitlines()) == 1
    assert sweep.read_results(tmp_path / sweep.RESULTS_CSV) == []
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    (row,) = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert (row["n_iter"], row["converged"]) == ("60", "False")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sweep_cmd.add_arguments(parser)
    return parser.parse_args(argv)


def test_list_shows_the_20_configurations_with_published_figures(capsys):
    assert sweep_cmd.run(parse(["--list"])) == 0
    out = capsys.readouterr().out
    assert "20 configurations" in out
    assert all(config.name in out for config in sweep.GRID)
    assert "0.8807" in out and "251.1" in out


def test_the_training_subset_is_train_subset_as_in_every_command_and_subset_its_alias():
    assert parse(["--train-subset", "300"]).train_subset == 300
    assert parse(["--subset", "300"]).train_subset == 300


@pytest.mark.real_data
def test_cli_quick_run_writes_csv_summary_and_plots(real_data_dir, tmp_path, capsys):
    argv = ["--configs", "base", "--max-iter", "3", "--train-subset", "3000",
            "--out", str(tmp_path), "--data-dir", str(real_data_dir)]
    assert sweep_cmd.run(parse(argv)) == 0
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert [(row["name"], row["n_train"]) for row in rows] == [("base", "3000")]
    assert float(rows[0]["test_accuracy"]) > 0.5
    for name in ("summary.md", "accuracy.png", "confusion-base.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert not (tmp_path / "confusion_large.png").exists()  # the large model did not run
    assert "[done 1/1" in capsys.readouterr().out
