"""Summaries of a run directory: the study's columns, honest timing, diverged runs counted."""

import csv
import json

import numpy as np
import pytest
from scipy import stats

from fmnist_jax.reporting.comparable import RUN_SETTINGS
from fmnist_jax.reporting.formatting import interval, number
from fmnist_jax.reporting.run_report import summarize, write_summary


def run(seed, accuracy, lr=1e-3, stopped="patience", epochs=40):
    return {"seed": seed, "learning_rate": lr, "test_accuracy": accuracy, "test_loss": 1 - accuracy,
            "confusion_matrix": np.diag([100] * 10).tolist(), "epochs": epochs, "stopped": stopped,
            "best_val_loss": 0.3, "best_epoch": epochs - 30, "time_s": 2.5,
            "history": {"train_loss": [0.5] * epochs, "val_loss": [0.4] * epochs,
                        "val_accuracy": [0.88] * epochs}}


STUDY_PROTOCOL = {name: study for name, (study, _) in RUN_SETTINGS.items()
                  if name != "learning_rate"}
RESULTS = {"framework": "jax", "model": "simple", "device": "test", "wall_time_s": 10.0,
           "compile_time_s": 1.0, "eval_loss": "batch-mean", "protocol": STUDY_PROTOCOL,
           "runs": [run(0, 0.890), run(1, 0.892), run(2, 0.894), run(3, 0.1, stopped="diverged")]}
TRUNCATED = {**RESULTS, "protocol": {**STUDY_PROTOCOL, "n_train": 2000, "max_epochs": 2}}
NOT_BESIDE = ("Not set beside the study's published figures: this run did not follow the study's "
              "protocol (2000 training images (the study: 50000); at most 2 epochs (the study: "
              "1000)).")


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
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["rows"] == json.loads(json.dumps(summary["rows"]))
    with open(tmp_path / "summary.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert float(row["success_avg"]) == pytest.approx(0.892) and row["count"] == "3"
    assert (tmp_path / "summary.md").read_text() == summary["markdown"]
    for name in ("curves.png", "confusion.png", "accuracy.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name
    assert "wall/K of one vmapped program" in summary["markdown"]


def test_a_run_of_the_studys_protocol_stands_beside_the_published_row():
    summary = summarize(RESULTS)
    assert "| study | 0.001 | 6 | – | 0.8917 |" in summary["markdown"]
    assert summary["rows"][0]["note"] == ("lr 0.001: our mean accuracy 0.8920 is inside the "
                                                "study's 95% interval 0.8893–0.8941.")
    assert "Not set beside" not in summary["markdown"]


def test_a_single_run_has_no_stdev_or_interval_rather_than_a_zero_width_one():
    ours = next(line for line in summarize({**RESULTS, "runs": [run(0, 0.89)]})["markdown"]
                .splitlines() if line.startswith("| ours"))
    assert ours.count("n/a") == 4  # accuracy stdev, its interval, loss and run time stdevs


def test_a_truncated_run_is_not_set_beside_the_study_and_says_why(tmp_path):
    summary = summarize(TRUNCATED)
    write_summary(tmp_path, TRUNCATED, summary)
    (row,) = json.loads((tmp_path / "summary.json").read_text())["rows"]
    assert not [key for key in row if key.startswith(("study_", "inside_study"))]
    assert row["note"] == NOT_BESIDE
    text = (tmp_path / "summary.md").read_text()
    assert "| study |" not in text and "0.8917" not in text
    assert NOT_BESIDE in text.splitlines()


def test_settings_not_recorded_count_as_off_protocol():
    row = summarize({**RESULTS, "protocol": {}})["rows"][0]
    assert "n_train not recorded" in row["protocol_deviations"]
    assert "inside_study_ci" not in row


def test_only_the_learning_rates_run_by_the_protocol_stand_beside_the_study(tmp_path):
    results = {**RESULTS, "runs": [run(0, 0.89), run(1, 0.88), run(0, 0.85, lr=1e-2),
                                   run(1, 0.86, lr=1e-2)]}
    summary = summarize(results)
    study_rate, other = summary["rows"]
    assert "inside_study_ci" in study_rate and "inside_study_ci" not in other
    assert other["note"] == ("Not set beside the study's published figures: the runs at lr "
                                   "0.01 did not follow the study's protocol (learning rate 0.01 "
                                   "(the study: 0.001)).")
    write_summary(tmp_path, results, summary)
    with open(tmp_path / "summary.csv", newline="") as f:
        assert [row["learning_rate"] for row in csv.DictReader(f)] == ["0.001", "0.01"]


def test_a_missing_number_or_interval_is_written_n_a_in_every_report():
    assert [number(v) for v in (None, float("nan"), 0.25)] == ["n/a", "n/a", "0.2500"]
    assert interval(0.1, float("nan")) == "n/a" and interval(None, 0.2) == "n/a"
    assert interval(0.1, 0.2) == "0.1000–0.2000"
    assert interval(-0.01, 0.02, "+.3f", separator=" to ") == "-0.010 to +0.020"
