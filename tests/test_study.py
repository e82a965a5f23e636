"""`fmnist study`: every cell an ordinary run directory, resumable, one report beside the study."""

import json
from dataclasses import replace

import numpy as np
import pytest

from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.study import Study, cell_dir, finished_pieces, merge_pieces, run_study

pytest.importorskip("torch")

SPLIT = synthetic_split(n_train=256, n_val=64, n_test=64)
TINY = TrainConfig(max_epochs=2, batch_size=32, eval_batch_size=64, progress=False,
                   checkpoint_every=1)


def tiny_study(**overrides) -> Study:
    return Study(**{"models": ("simple",), "seeds": 2, "train": TINY, **overrides})


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    return out, run_study(tiny_study(), out, split=SPLIT, log=lambda *_: None)


def test_each_cell_is_a_run_directory_of_its_framework(finished):
    out, outcome = finished
    for framework in ("jax", "torch"):
        path = cell_dir(out, framework, "simple")
        results = json.loads((path / "results.json").read_text())
        assert results["framework"] == framework and len(results["runs"]) == 2
        assert not (path / "checkpoints").exists()
    assert set(outcome["cells"]) == {("jax", "simple"), ("torch", "simple")}


def test_report_sets_a_truncated_cell_apart_from_the_published_figures(finished):
    out, outcome = finished
    text = (out / "report.md").read_text()
    assert text == outcome["report"]
    off = ("256 training images (the study: 50000); at most 2 epochs (the study: 1000); batches "
           "of 32 (the study: 128)")
    assert "study (published)" not in text and "0.8917" not in text
    assert f"truncated: {off}" in text
    assert (f"Not set beside the study's published figures: JAX (ours) did not follow the "
            f"study's protocol ({off}).") in text
    assert "inside" not in text and "outside" not in text
    assert "JAX − torch_ref, test accuracy" in text
    assert ("This verdict cannot speak for the study's protocol: 2 and 2 seeds, fewer than the "
            f"study's 6 a side; JAX and torch_ref did not follow it ({off}).") in text
    assert (out / "accuracy-simple.png").read_bytes().startswith(b"\x89PNG")
    json.loads((out / "report.json").read_text(), parse_constant=pytest.fail)


def test_a_second_run_skips_the_finished_cells(finished):
    out, outcome = finished
    messages = []
    again = run_study(tiny_study(), out, split=SPLIT, log=messages.append)
    assert all("is finished" in m for m in messages) and len(messages) == 2
    assert again["cells"][("jax", "simple")]["runs"] == outcome["cells"][("jax", "simple")]["runs"]


def test_cells_of_another_study_into_the_same_directory_join_the_report(finished, tmp_path):
    out, _ = finished
    more = run_study(tiny_study(models=("big",), frameworks=("jax",), seeds=1), out, split=SPLIT,
                     log=lambda *_: None)
    assert set(more["cells"]) == {("jax", "simple"), ("torch", "simple"), ("jax", "big")}
    assert "| big | JAX (ours) | 1 |" in more["report"]


def test_an_interrupted_cell_of_other_settings_is_refused(tmp_path):
    from fmnist_jax.errors import ConfigError

    path = cell_dir(tmp_path, "jax", "simple")
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({**TrainConfig(model="simple", seeds=5)
                                                   .to_json(), "framework": "jax"}))
    with pytest.raises(ConfigError, match="interrupted run of other settings"):
        run_study(tiny_study(frameworks=("jax",)), tmp_path, split=SPLIT, log=lambda *_: None)


def test_a_cell_grows_seed_by_seed_and_a_rerun_trains_only_the_missing_seeds(tmp_path):
    study = tiny_study(frameworks=("jax",), seeds_per_run=1)
    run_study(replace(study, seeds=1), tmp_path, split=SPLIT, log=lambda *_: None)
    messages = []
    grown = run_study(replace(study, seeds=3), tmp_path, split=SPLIT, log=messages.append)
    cell = cell_dir(tmp_path, "jax", "simple")
    assert [p.name for p in finished_pieces(cell)] == ["seed-0", "seed-1", "seed-2"]
    assert sum("is finished" in m for m in messages) == 1
    assert sum("training jax simple (seeds 1-1)" in m or "(seeds 2-2)" in m for m in messages) == 2
    runs = grown["cells"][("jax", "simple")]["runs"]
    assert [run["seed"] for run in runs] == [0, 1, 2]
    assert [piece["seeds"] for piece in grown["cells"][("jax", "simple")]["pieces"]] == [[0], [1], [2]]
    assert "| simple | JAX (ours) | 3 |" in grown["report"]


def test_a_seed_grown_alone_equals_the_same_seed_in_a_whole_cell(tmp_path):
    whole = run_study(tiny_study(frameworks=("jax",)), tmp_path / "whole", split=SPLIT,
                      log=lambda *_: None)["cells"][("jax", "simple")]["runs"]
    pieces = run_study(tiny_study(frameworks=("jax",), seeds_per_run=1), tmp_path / "pieces",
                       split=SPLIT, log=lambda *_: None)["cells"][("jax", "simple")]["runs"]
    for a, b in zip(whole, pieces):
        assert (a["seed"], a["epochs"]) == (b["seed"], b["epochs"])
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-4)


def test_pieces_of_other_settings_or_a_seed_twice_are_not_merged(tmp_path):
    from fmnist_jax.errors import ConfigError

    part = {"framework": "jax", "model": "cnn", "eval_loss": "batch-mean", "device": "cpu",
            "wall_time_s": 1.0, "protocol": {"n_train": 50000}, "runs": [
                {"seed": 0, "learning_rate": 1e-3}]}
    other = {**part, "protocol": {"n_train": 2000}, "runs": [{"seed": 1, "learning_rate": 1e-3}]}
    with pytest.raises(ConfigError, match="differ in protocol"):
        merge_pieces([part, other])
    with pytest.raises(ConfigError, match="appears in two run directories"):
        merge_pieces([part, part])


def test_the_study_command_prints_each_cells_mean_accuracy_and_where_the_report_is(finished):
    from fmnist_jax.cli.study_cmd import summary

    out, outcome = finished
    lines = summary(outcome, out).splitlines()
    expected = [f"  {framework:<6} simple  mean test accuracy "
                f"{np.mean([run['test_accuracy'] for run in results['runs']]):.4f} (n=2)"
                for (framework, _), results in outcome["cells"].items()]
    assert lines[0] == "study: 2 cell(s) done" and lines[1:3] == expected
    assert lines[3:] == [f"report: {out / 'report.md'} (beside report.json and the plots)"]


@pytest.mark.slow
@pytest.mark.real_data
def test_the_quick_study_writes_the_side_by_side_report(real_data_dir, tmp_path, capsys):
    from fmnist_jax.cli.main import main
    from fmnist_jax.data.idx import FILES

    out = tmp_path / "quick"
    assert main(["study", "--quick", "--data-dir", str(real_data_dir), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    printed = capsys.readouterr().out
    assert "study: 4 cell(s) done" in printed and f"report: {out / 'report.md'}" in printed
    assert "## The scikit-learn sweep" not in printed  # the report is in the file, not printed
    for model in ("simple", "big"):
        for source in ("JAX (ours)", "torch_ref (ours)"):
            assert f"| {model} | {source} |" in text
    assert "study (published)" not in text  # the quick study is off the study's protocol
    assert "Not set beside the study's published figures" in text
    assert "## The scikit-learn sweep" in text
    record = json.loads((out / "report.json").read_text(), parse_constant=pytest.fail)
    assert record["provenance"]["data"]["sha256"]["train-images-idx3-ubyte.gz"] == \
        FILES["train_images"].gz_sha256
    assert "Data: raw from" in text


def test_the_study_summary_leaves_diverged_runs_out_as_the_report_does(tmp_path):
    from fmnist_jax.cli.study_cmd import summary

    runs = [{"seed": 0, "learning_rate": 1e-3, "test_accuracy": 0.9, "stopped": "patience"},
            {"seed": 1, "learning_rate": 1e-3, "test_accuracy": 0.1, "stopped": "diverged"}]
    runs = [{**run, "test_loss": 0.3, "epochs": 5, "time_s": 1.0} for run in runs]
    cell = {"framework": "jax", "model": "simple", "device": "cpu", "runs": runs}
    lines = summary({"cells": {("jax", "simple"): cell}, "sweep": []}, tmp_path).splitlines()
    assert lines[1] == "  jax    simple  mean test accuracy 0.9000 (n=1, 1 diverged)"
