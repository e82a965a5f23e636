"""scripts/bench_user_conv.py at its smallest settings: a row per model and conv, in its table
and its JSON."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import bench_user_conv


@pytest.mark.slow
def test_bench_user_conv_quick_prints_and_writes_a_row_per_model_and_conv(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench_user_conv.main(["--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    expected = {(model, conv) for model in ("digits", "fmnist")
                for conv in ("nn.Conv", "patch_convs")}
    assert {(row["model"], row["conv"]) for row in record["rows"]} == expected
    assert all(f"| {model} | {conv} |" in printed for model, conv in expected)
    assert set(record["rows"][0]) >= {"step_alone_s", "loop_step_s", "loop_over_alone",
                                      "loop_over_nn_conv_alone"}
    assert record["batch"] == 8 and record["provenance"]["cpu"] in printed
