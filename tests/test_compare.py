"""`fmnist compare`: run directories side by side, with Welch's t-test and the study's figures."""

import json
import math

import pytest

from fmnist_jax.cli import main
from fmnist_jax.compare import compare, markdown
from fmnist_jax.rundir import write_run


def make_run(path, framework, accuracies, losses=None, model="simple", lr=1e-3):
    """A run directory as `fmnist train` / `fmnist torch` write it, with the given test scores."""
    losses = losses or [0.5] * len(accuracies)
    runs = [{"seed": seed, "learning_rate": lr, "test_accuracy": acc, "test_loss": loss,
             "confusion_matrix": [[0] * 10 for _ in range(10)], "epochs": 40,
             "stopped": "patience", "best_val_loss": 0.3, "best_epoch": 10, "time_s": 20.0 + seed,
             "history": {"train_loss": [1.0], "val_loss": [1.0], "val_accuracy": [0.5]}}
            for seed, (acc, loss) in enumerate(zip(accuracies, losses))]
    results = {"framework": framework, "model": model, "device": "cpu", "wall_time_s": 1.0,
               "compile_time_s": None, "runs": runs}
    write_run(path, results)
    return path


def strict_json(text):
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def test_samples_from_one_distribution_are_consistent(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.890, 0.893, 0.891, 0.889, 0.892])
    b = make_run(tmp_path / "b", "torch", [0.891, 0.890, 0.893, 0.889, 0.892])
    diff = compare([a, b])["models"]["simple"]["differences"][0]
    assert diff["test_accuracy"]["verdict"] == "consistent"
    assert diff["test_accuracy"]["p_value"] > 0.05


def test_clearly_separated_samples_differ(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.890, 0.893, 0.891, 0.889])
    b = make_run(tmp_path / "b", "torch", [0.870, 0.872, 0.869, 0.871])
    diff = compare([a, b])["models"]["simple"]["differences"][0]
    assert diff["test_accuracy"]["verdict"] == "differs"
    assert diff["test_accuracy"]["ci_low"] < diff["test_accuracy"]["ci_high"] < 0


def test_difference_is_the_later_run_minus_the_first(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.80, 0.82], losses=[0.5, 0.7])
    b = make_run(tmp_path / "b", "torch", [0.90, 0.92], losses=[0.4, 0.42])
    diff = compare([a, b])["models"]["simple"]["differences"][0]
    assert diff["test_accuracy"]["diff"] == pytest.approx(0.10)
    assert diff["test_loss"]["diff"] == pytest.approx(-0.19)


def test_a_single_seed_gives_not_available_statistics_instead_of_crashing(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.89, 0.88, 0.90])
    b = make_run(tmp_path / "b", "torch", [0.87])
    comparison = compare([a, b])
    sample = comparison["models"]["simple"]["samples"][1]
    diff = comparison["models"]["simple"]["differences"][0]
    assert math.isnan(sample["test_accuracy"]["std"])
    assert math.isnan(diff["test_accuracy"]["p_value"])
    assert diff["test_accuracy"]["verdict"] == "n/a"
    assert "fewer than 2 seeds" in markdown(comparison)


def test_published_figures_stand_beside_the_runs(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.89, 0.88])
    text = markdown(compare([a, make_run(tmp_path / "b", "torch", [0.89, 0.87])]))
    assert "study (published)" in text and "0.8917 ± 0.0023" in text


def test_each_model_is_compared_only_with_itself(tmp_path):
    runs = [make_run(tmp_path / "a", "jax", [0.89, 0.88]),
            make_run(tmp_path / "b", "jax", [0.91, 0.92], model="cnn"),
            make_run(tmp_path / "c", "torch", [0.90, 0.91], model="cnn")]
    models = compare(runs)["models"]
    assert list(models) == ["simple", "cnn"]
    assert models["simple"]["differences"] == []
    assert [d["b"] for d in models["cnn"]["differences"]] == ["torch (c)"]


def test_command_prints_markdown_and_writes_md_json_and_png(tmp_path, capsys):
    a = make_run(tmp_path / "a", "jax", [0.89, 0.88, 0.90])
    b = make_run(tmp_path / "b", "torch", [0.87])
    out = tmp_path / "out"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "**Verdict, simple, B vs A**" in printed
    assert (out / "compare.md").read_text() in printed
    strict_json((out / "compare.json").read_text())
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_a_directory_without_results_is_a_one_line_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no results.json" in capsys.readouterr().err
