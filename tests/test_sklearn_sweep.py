"""The sklearn MLPClassifier sweep: the study's grid, the CSV that survives kills, resume."""

import argparse
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from fmnist_jax.cli import sweep_cmd
from fmnist_jax.data.split import sklearn_view, synthetic_raw
from fmnist_jax.errors import ConfigError
from fmnist_jax.mlp import sweep
from fmnist_jax.reporting.formatting import NOT_APPLICABLE
from fmnist_jax.reporting.sweep_report import accuracy_figure, markdown

REPO = Path(__file__).resolve().parent.parent

# Sleeps in every fit but lr-0.1's, so the test can SIGKILL it after exactly one row landed.
KILLABLE_SWEEP = """
import sys, time
from fmnist_jax.mlp import sweep
from fmnist_jax.data.split import sklearn_view, synthetic_raw
fit = sweep.fit_config
def slow_after_first(config, *args, **kwargs):
    if config.name != "lr-0.1":
        time.sleep(600)
    return fit(config, *args, **kwargs)
sweep.fit_config = slow_after_first
sweep.run_sweep(sweep.select("lr-0.1,base"), sklearn_view(synthetic_raw(300, 100)), sys.argv[1],
                max_iter=2, log=lambda line: None)
"""


def sweep_row(name: str, accuracy: float, seed: int = 0, n_train: str = "60000",
              max_iter: str = "10000") -> dict:
    """A results.csv row as the sweep writes it (the study's protocol unless told)."""
    return {"name": name, "engine": "sklearn", "max_iter": max_iter, "tol": "0.0001",
            "random_state": str(seed), "n_train": n_train, "blas_threads": "1",
            "fit_time_s": "1.000", "n_iter": "5", "converged": "True",
            "test_accuracy": f"{accuracy:.4f}", "confusion_matrix": " ".join(["10"] * 100)}


def table(text: str) -> list[dict]:
    """The rows of a Markdown table in `text`, by column name."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].split("|")[1:-1]]
    return [dict(zip(header, (cell.strip() for cell in line.split("|")[1:-1])))
            for line in lines[2:]]


TRUNCATED_ROWS = [sweep_row("base", 0.80, n_train="1000", max_iter="5"),
                  sweep_row("lr-0.1", 0.82, n_train="1000", max_iter="5")]


@pytest.fixture(scope="module")
def tiny_data():
    return sklearn_view(synthetic_raw(300, 100))


def quiet_sweep(configs: str, data, out, **kwargs) -> list[str]:
    """Runs the sweep with max_iter 2 (unless given) and returns its progress lines."""
    lines = []
    sweep.run_sweep(sweep.select(configs), data, out, log=lines.append,
                    **{"max_iter": 2, **kwargs})
    return lines


def named_change(name: str) -> dict:
    """The change from base a variation's name says: `layers-4` four hidden layers of base's
    width, `neurons-50` one layer of 50, `lr-0.01` the initial rate, `lr-adaptive` the schedule,
    any other `<setting>-<value>` that setting."""
    setting, _, value = name.rpartition("-")
    width = sweep.BASE["hidden_layer_sizes"]
    if setting == "layers":
        return {"hidden_layer_sizes": width * int(value)}
    if setting == "neurons":
        return {"hidden_layer_sizes": (int(value),)}
    if setting == "lr":
        return ({"learning_rate_init": float(value)} if value[0].isdigit()
                else {"learning_rate": value})
    return {setting.replace("-", "_"): {"True": True, "False": False}.get(value, value)}


def test_each_variation_changes_from_base_exactly_the_setting_its_name_says():
    base, *variations, large = sweep.GRID
    assert (base.name, base.change, large.name) == ("base", {}, "large")
    assert len(variations) == 18
    for config in variations:
        assert config.change == named_change(config.name), config.name
        assert all(sweep.BASE[key] != value for key, value in config.change.items()), config.name


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


@pytest.mark.parametrize("action", ["ignore", "error"])
def test_convergence_is_recorded_whatever_the_users_warning_filter(tiny_data, action):
    with warnings.catch_warnings():
        warnings.simplefilter(action)
        converged = sweep.fit_config(sweep.BY_NAME["lr-0.1"], *tiny_data, max_iter=200)
        cut_short = sweep.fit_config(sweep.BY_NAME["base"], *tiny_data, max_iter=2)
    assert converged["converged"] == "True" and int(converged["n_iter"]) < 200
    assert (cut_short["converged"], cut_short["n_iter"]) == ("False", "2")


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


def test_summary_of_the_studys_protocol_puts_ours_beside_the_studys():
    rows = [sweep_row("lr-0.1", 0.8712)]
    (line,) = table(markdown(rows))
    assert (line["seeds"], line["accuracy (mean)"], line["95% CI"]) == ("1", "0.8712", "n/a")
    assert (line["study"], line["Δ vs study"], line["study fit s"]) == ("0.8704", "+0.0008", "18.4")
    assert "Not set beside" not in markdown(rows)


def test_the_base_cases_difference_from_itself_is_not_applicable():
    (line,) = table(markdown([sweep_row("base", 0.88)]))
    assert (line["reference"], line["Δ vs base"], line["Holm p"]) == (NOT_APPLICABLE,) * 3


def test_summary_lists_only_the_configurations_that_ran():
    rows = [sweep_row("lr-0.1", 0.87), sweep_row("base", 0.88)]
    assert [line["name"] for line in table(markdown(rows))] == ["base", "lr-0.1"]


def test_a_truncated_sweep_is_not_set_beside_the_study_and_says_why():
    text = markdown(TRUNCATED_ROWS)
    assert ("Not set beside the study's published figures: this sweep did not follow the study's "
            "protocol (1000 training images (the study: 60000); max_iter 5 (the study: 10000)).") \
        in text.splitlines()
    lines = table(text)
    assert [line["name"] for line in lines] == ["base", "lr-0.1"]
    assert not {"study", "Δ vs study", "study fit s"} & set(lines[0])
    assert "0.8807" not in text and "0.8704" not in text


def test_many_seeds_give_intervals_and_a_corrected_test_against_the_base_case(tiny_data,
                                                                              tmp_path):
    quiet_sweep("base,lr-0.1", tiny_data, tmp_path, seeds=range(3))
    rows = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert sorted((row["name"], row["random_state"]) for row in rows) == [
        (name, str(seed)) for name in ("base", "lr-0.1") for seed in range(3)]
    line = next(line for line in table(markdown(rows)) if line["name"] == "lr-0.1")
    assert line["seeds"] == "3" and "–" in line["95% CI"]
    assert line["Δ vs base"].startswith(("+", "-"))
    assert line["Holm p"] != NOT_APPLICABLE  # Holm-adjusted Welch p-value against the base case


def test_the_plot_of_one_seed_a_configuration_shows_no_interval():
    (ax,) = accuracy_figure([sweep_row("base", 0.88), sweep_row("lr-0.1", 0.87)]).axes
    assert not ax.containers  # no error bars
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["ours: one seed", "study"]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["base", "lr-0.1"]


def test_the_plot_of_many_seeds_shows_their_intervals():
    rows = [sweep_row("base", accuracy, seed) for seed, accuracy in enumerate((0.88, 0.87, 0.89))]
    (ax,) = accuracy_figure(rows).axes
    assert len(ax.containers) == 1
    assert ax.get_legend().get_texts()[0].get_text() == "ours: mean, 95% CI (dots: seeds)"


def test_the_plot_of_a_truncated_sweep_leaves_the_study_out_and_says_why():
    (ax,) = accuracy_figure(TRUNCATED_ROWS).axes
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["ours: one seed"]
    assert not [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert "not set beside the study's published figures" in ax.get_title()


def test_the_studys_large_confusion_matrix_stands_only_beside_a_sweep_of_its_protocol(tmp_path):
    from fmnist_jax.reporting.sweep_report import CONFUSION_PNG, plot_confusions

    def width(rows, name):
        plot_confusions(rows, tmp_path / name)
        return struct.unpack(">I", (tmp_path / name / CONFUSION_PNG).read_bytes()[16:20])[0]

    (tmp_path / "full").mkdir(), (tmp_path / "truncated").mkdir()
    two_panels = width([sweep_row("large", 0.88)], "full")
    one_panel = width([sweep_row("large", 0.80, n_train="1000")], "truncated")
    assert two_panels > 1.8 * one_panel


def test_holm_correction_multiplies_the_smallest_p_value_by_the_number_of_tests():
    from fmnist_jax.reporting.sweep_report import holm

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


# `fmnist sweep` on 300 synthetic images, sklearn reporting each iteration on stdout. A shell's
# background job starts with SIGINT ignored, and Python keeps it so: handle it as a terminal's
# Ctrl-C finds it, whoever started the tests.
CTRL_C_SWEEP = """
import signal, sys
from fmnist_jax.mlp import sweep
from fmnist_jax.cli.main import main
from fmnist_jax.data.split import sklearn_view, synthetic_raw
signal.signal(signal.SIGINT, signal.default_int_handler)
sweep.load_data = lambda data_dir, subset: sklearn_view(synthetic_raw(subset, 100))
make = sweep.make_estimator
sweep.make_estimator = lambda *args, **kwargs: make(*args, **kwargs).set_params(verbose=True)
sys.exit(main(sys.argv[1:]))
"""


def ctrl_c_sweep(out: Path, python_options=(), max_iter: int = 10000) -> list[str]:
    return [sys.executable, *python_options, "-c", CTRL_C_SWEEP, "sweep", "--configs", "base",
            "--max-iter", str(max_iter), "--train-subset", "300", "--out", str(out)]


def child_env(**variables) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **variables}


def assert_ctrl_c_records_nothing(args: list[str], env: dict, out: Path) -> None:
    """Runs the command and sends SIGINT once sklearn has reported its first iteration
    (inside the fit, which has dozens left); it must exit 130 with one line and no row."""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env) as process:
        watchdog = threading.Timer(120, process.kill)  # a hung child fails this test only
        watchdog.start()
        lines = [process.stdout.readline() for _ in range(2)]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate()
        watchdog.cancel()
    assert lines[0].startswith("sweep (sklearn): 1 fit(s) to run"), stderr
    assert lines[1].startswith("Iteration 1,"), stderr
    assert process.returncode == 130, stderr
    assert "run the same command again" in stderr and len(stderr.strip().splitlines()) == 1
    assert sweep.read_results(out / sweep.RESULTS_CSV) == []


def test_ctrl_c_during_a_fit_records_nothing_and_a_rerun_finishes_it(tmp_path):
    """sklearn catches Ctrl-C inside fit and returns early: that must not become a row."""
    args = ctrl_c_sweep(tmp_path, max_iter=60)
    assert_ctrl_c_records_nothing(args, child_env(), tmp_path)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=child_env(),
                          check=False)
    assert done.returncode == 0, done.stderr
    (row,) = sweep.read_results(tmp_path / sweep.RESULTS_CSV)
    assert (row["n_iter"], row["converged"]) == ("60", "False")


@pytest.mark.parametrize(("python_options", "variables"),
                         [((), {"PYTHONWARNINGS": "ignore"}), (("-W", "error"), {})],
                         ids=["PYTHONWARNINGS=ignore", "-W error"])
def test_ctrl_c_records_nothing_whatever_the_users_warning_filter(python_options, variables,
                                                                  tmp_path):
    """sklearn tells of the interruption only by a warning, which these filters silence or
    raise."""
    assert_ctrl_c_records_nothing(ctrl_c_sweep(tmp_path, python_options), child_env(**variables),
                                  tmp_path)


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
