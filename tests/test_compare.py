"""`fmnist compare`: run directories side by side, with Welch's t-test and the study's figures."""

import json
import math

import pytest

from fmnist_jax.cli.main import main
from fmnist_jax.reporting.comparable import RUN_SETTINGS
from fmnist_jax.reporting.compare import accuracy_figure, compare, markdown
from fmnist_jax.reporting.rundir import write_run

STUDY_PROTOCOL = {name: study for name, (study, _) in RUN_SETTINGS.items()
                  if name != "learning_rate"}
TRUNCATED = {**STUDY_PROTOCOL, "n_train": 2000, "max_epochs": 2}


def make_run(path, framework, accuracies, losses=None, model="simple", lr=1e-3,
             protocol=STUDY_PROTOCOL):
    """A run directory as `fmnist train` / `fmnist torch` write it, with the given test scores
    and protocol settings (the study's unless given)."""
    losses = losses or [0.5] * len(accuracies)
    runs = [{"seed": seed, "learning_rate": lr, "test_accuracy": acc, "test_loss": loss,
             "confusion_matrix": [[0] * 10 for _ in range(10)], "epochs": 40,
             "stopped": "patience", "best_val_loss": 0.3, "best_epoch": 10, "time_s": 20.0 + seed,
             "history": {"train_loss": [1.0], "val_loss": [1.0], "val_accuracy": [0.5]}}
            for seed, (acc, loss) in enumerate(zip(accuracies, losses))]
    results = {"framework": framework, "model": model, "device": "cpu", "wall_time_s": 1.0,
               "compile_time_s": None, "protocol": protocol, "runs": runs}
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


def test_runs_off_the_protocol_are_not_set_beside_the_study_and_say_why(tmp_path):
    comparison = compare([make_run(tmp_path / "a", "jax", [0.80, 0.81], protocol=TRUNCATED),
                          make_run(tmp_path / "b", "torch", [0.80, 0.82], protocol=TRUNCATED)])
    text = markdown(comparison)
    assert comparison["models"]["simple"]["published"] is None
    assert "study (published)" not in text and "0.8917" not in text
    assert ("Not set beside the study's published figures: A and B did not follow the study's "
            "protocol "
            "(2000 training images (the study: 50000); at most 2 epochs (the study: 1000)).") in text


def test_the_plot_draws_the_studys_band_only_beside_runs_of_its_protocol(tmp_path):
    def band_and_title(protocol, name):
        runs = [make_run(tmp_path / f"{name}{i}", "jax", [0.89, 0.88], protocol=protocol)
                for i in range(2)]
        (ax,) = accuracy_figure(compare(runs)).axes
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        return "study 95% CI" in labels, len(ax.patches), ax.get_title()

    assert band_and_title(STUDY_PROTOCOL, "full")[:2] == (True, 1)
    shown, patches, title = band_and_title(TRUNCATED, "truncated")
    assert (shown, patches) == (False, 0)
    assert "not set beside the study's published figures" in title


def test_a_verdict_states_seeds_and_settings_and_its_caveat_off_the_protocol(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.890, 0.893, 0.891, 0.889], protocol=TRUNCATED)
    b = make_run(tmp_path / "b", "torch", [0.870, 0.872, 0.869, 0.871], protocol=TRUNCATED)
    lines = markdown(compare([a, b])).splitlines()
    verdict = next(i for i, line in enumerate(lines)
                   if line.startswith("**Verdict, simple, B vs A**: test accuracy differs"))
    assert lines[verdict + 1] == (
        "Compared: A (4 seeds) and B (4 seeds), both with 2000 training images, at most 2 "
        "epochs, patience 30, batches of 128, learning rate 0.001, batch-mean losses, "
        "restore_best False, data source raw.")
    assert lines[verdict + 2] == (
        "This verdict cannot speak for the study's protocol: 4 and 4 seeds, fewer than the "
        "study's 6 a side; A and B did not follow it (2000 training images (the study: "
        "50000); at most 2 epochs (the study: 1000)).")


def test_a_verdict_of_the_studys_protocol_and_seeds_has_no_caveat(tmp_path):
    a = make_run(tmp_path / "a", "jax", [0.890, 0.893, 0.891, 0.889, 0.892, 0.890])
    b = make_run(tmp_path / "b", "torch", [0.891, 0.890, 0.893, 0.889, 0.892, 0.891])
    (diff,) = compare([a, b])["models"]["simple"]["differences"]
    assert diff["caveat"] is None
    assert diff["compared"].startswith("A (6 seeds) and B (6 seeds), both with 50000 training")


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
