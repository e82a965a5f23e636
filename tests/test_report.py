"""Summaries of a run directory: the study's columns, honest timing, diverged runs counted."""

import numpy as np
import pytest
from scipy import stats

from fmnist_jax.report import summarize, write_summary


def run(seed, accuracy, lr=1e-3, stopped="patience", epochs=40):
    return {"seed": seed, "learning_rate": lr, "test_accuracy": accuracy, "test_loss": 1 - accuracy,
            "confusion_matrix": np.diag([100] * 10).tolist(), "epochs": epochs, "stopped": stopped,
            "best_val_loss": 0.3, "best_epoch": epochs - 30, "time_s": 2.5,
            "history": {"train_loss": [0.5] * epochs, "val_loss": [0.4] * epochs,
                        "val_accuracy": [0.88] * epochs}}


RESULTS = {"framework": "jax", "model": "simple", "device": "test", "wall_time_s": 10.0,
           "compile_time_s": 1.0,
           "runs": [run(0, 0.890), run(1, 0.892), run(2, 0.894), run(3, 0.1, stopped="diverged")]}


def test_summary_has_the_studys_columns_with_a_student_t_interval():
    row = summarize(RESULTS)["rows"][0]
    accuracies = [0.890, 0.892, 0.894]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(accuracies), scale=stats.sem(accuracies))
    assert row["success_avg"] == pytest.approx(0.892)
    assert row["success_stdev"] == pytest.approx(np.std(accuracies, ddof=1))
    assert (row["success_ci_low"], row["success_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["epochs_avg"] == 40 and row["program_wall_s"] == 10.0


def test_diverged_runs_are_counted_and_left_out_of_the_means():
    row = summarize(RESULTS)["rows"][0]
    assert (row["count"], row["diverged"]) == (3, 1)


def test_summary_says_whether_our_mean_lies_in_the_studys_interval():
    row = summarize(RESULTS)["rows"][0]
    assert row["study_success_avg"] == 0.8917 and row["inside_study_ci"] is True


def test_each_learning_rate_gets_its_own_row():
    results = {**RESULTS, "runs": [run(0, 0.89), run(1, 0.88), run(0, 0.85, lr=1e-2),
                                   run(1, 0.86, lr=1e-2)]}
    assert [r["learning_rate"] for r in summarize(results)["rows"]] == [1e-3, 1e-2]


def test_write_summary_writes_tables_and_plots(tmp_path):
    summary = summarize(RESULTS)
    write_summary(tmp_path, RESULTS, summary)
    for name in ("summary.json", "summary.csv", "summary.md", "curves.png", "confusion.png",
                 "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "wall/K of one vmapped program" in summary["markdown"]
    assert "| study | 0.001 | 6 |" in summary["markdown"]


def test_a_single_run_has_no_stdev_or_interval_rather_than_a_zero_width_one():
    ours = next(line for line in summarize({**RESULTS, "runs": [run(0, 0.89)]})["markdown"]
                .splitlines() if line.startswith("| ours"))
    assert ours.count("n/a") == 4  # accuracy stdev, its interval, loss and run time stdevs


def test_a_run_that_deviates_from_the_protocol_is_not_set_beside_the_study():
    truncated = {**RESULTS, "protocol": {"n_train": 5000, "patience": 30, "max_epochs": 3}}
    row = summarize(truncated)["rows"][0]
    assert "inside_study_ci" not in row
    assert row["protocol_deviations"] == ["n_train 5000 (study: 50000)",
                                          "max_epochs 3 (study: 1000)"]
    assert "not set beside the study's interval" in summarize(truncated)["markdown"]
