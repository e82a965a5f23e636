"""The benchmark scripts at their smallest settings: bench and bench_sweep end to end, writing
their figures; bench_matmuls product by product, with the functions the layers run."""

import json
import math
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

from fmnist_jax import protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import bench
import bench_matmuls
import bench_sweep


@pytest.mark.slow
def test_bench_quick_writes_the_loop_and_torch_figures(tmp_path):
    assert bench.main(["--quick", "--json", str(tmp_path / "bench.json")]) == 0
    record = json.loads((tmp_path / "bench.json").read_text())
    (row,) = record["rows"]  # --quick: the simple model in float32, K = 1 and 2, no full epoch
    assert (row["model"], row["precision"], set(row["loop_step_s"])) == ("simple", "float32",
                                                                         {"1", "2"})
    assert "epoch_jax_s" not in row and record["provenance"]["versions"]["jax"]
    measured = [row["step_alone_s"], *row["loop_step_s"].values(), row["adam_update_s"],
                row["torch_step_s"], row["matmul_peak_tflops"]]
    assert all(math.isfinite(value) and value > 0 for value in measured), row
    # the ratios and the floor are the measured figures combined as their names say
    loop, peak = row["loop_step_s"], row["matmul_peak_tflops"] * 1e12
    flops = bench.step_flops("simple", protocol.BATCH_SIZE)
    assert row["loop_over_alone"] == pytest.approx(loop["1"] / row["step_alone_s"])
    assert row["per_seed_vs_one_seed"] == pytest.approx({"1": 1.0, "2": loop["2"] / loop["1"]})
    assert row["jax_step_speedup"] == pytest.approx(row["torch_step_s"] / loop["1"])
    assert row["fraction_of_matmul_peak"] == pytest.approx(flops / loop["1"] / peak)
    assert row["step_floor_s"] == pytest.approx(flops / peak + row["adam_update_s"])


def test_bench_matmuls_runs_each_product_of_a_step_with_the_layers_functions():
    products = list(bench_matmuls.products("simple", batch=8))
    # 3 layers x (forward, weight grad), and the input gradients of layers 2 and 3
    assert [product for _, product, *_ in products].count("input grad") == 2 and len(products) == 8
    for _, _, function, lhs, rhs, flops in products:
        for dtype in bench_matmuls.DTYPES.values():
            # on ones, each output is the length of the contraction: the product's FLOPs
            assert 2 * float(function(jnp.ones(lhs, dtype), jnp.ones(rhs, dtype)).sum()) == flops
    *_, function, lhs, rhs, flops = products[-1]
    assert bench_matmuls.seconds(function, lhs, rhs, jnp.bfloat16, flops) > 0


@pytest.mark.real_data
def test_bench_sweep_counts_the_flops_of_the_configured_network(tmp_path, real_data_dir):
    out = tmp_path / "sweep.json"
    assert bench_sweep.main(["--subset", "300", "--epochs", "2", "--seeds", "2",
                             "--data-dir", str(real_data_dir), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["n_train"] == 300 and figures["jax_2_seeds_s"] > 0
    # base is 784-100-10 (sklearn's default hidden layer): 2 epochs of forward, weight
    # gradients and the output layer's deltas
    products = 784 * 100 + 100 * 10
    assert figures["fit_at_matmul_peak_s"] * figures["matmul_peak_gflops"] * 1e9 == pytest.approx(
        2 * 2 * 300 * (2 * products + 100 * 10))
