"""The GPU targets in one run (one H200, at most about 9 minutes), written to one JSON file.

- cnn, 8 seeds in one program, full protocol (early stopping), tf32 and bf16: wall time,
  compile time, epochs, test accuracy (target: at most 60 s);
- simple, 8 seeds, full protocol, float32 (target: at most 10 s);
- the cnn's conv as patches (matmuls) against lax.conv (what `--conv auto` picks on a GPU):
  one epoch, 1 and 8 seeds;
- K = 1 and 8 seeds of simple and cnn (tf32), per seed and training step: JAX's one program
  against torch_ref's K models one after the other and with torch.func, plain and compiled
  (`bench.torch_seeds_step`);
- torch_ref cnn for a few epochs, 1 seed, tf32: seconds per epoch, against JAX's per seed;
- the sklearn sweep's whole grid x 5 seeds in the JAX engine, all 60000 images (last: the rows
  that finish before the time limit are in sweep-gpu/results.csv beside the JSON).

    python scripts/gpu_check.py --json $OUT/gpu-check.json --data-dir data/fashion-mnist
    python scripts/gpu_check.py --dry-run --json /tmp/check.json --data-dir DIR  # on a CPU: tiny
                                                                     # settings, no lax.conv
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import bench
import torch

from fmnist_jax import api
from fmnist_jax.config import TrainConfig
from fmnist_jax.data.split import synthetic_split
from fmnist_jax.reporting.provenance import provenance
from fmnist_jax.reporting.rundir import write_json


def jax_run(config: TrainConfig, split) -> dict:
    start = time.perf_counter()
    run = api.train_jax(config, split, log=lambda *_: None)
    results = run.results
    return {"model": config.model, "precision": config.precision,
            "conv": results.get("conv", config.conv),
            "seeds": config.seeds, "max_epochs": config.max_epochs,
            "wall_s": results["wall_time_s"], "compile_s": results["compile_time_s"],
            "total_s": time.perf_counter() - start,
            "epochs": [r["epochs"] for r in results["runs"]],
            "stopped": [r["stopped"] for r in results["runs"]],
            "test_accuracy": [r["test_accuracy"] for r in results["runs"]],
            "device": results["device"]}


def torch_run(config: TrainConfig, split) -> dict:
    results = api.train_torch(config, split, log=lambda *_: None).results
    epochs = sum(r["epochs"] for r in results["runs"])
    return {"model": config.model, "precision": config.precision, "epochs": epochs,
            "wall_s": results["wall_time_s"], "seconds_per_epoch": results["wall_time_s"] / epochs,
            "device": results["device"]}


def many_seeds(config: TrainConfig, split, steps: int) -> dict:
    """Per seed and training step, K = 1 and 8: JAX's loop against torch_ref's K models."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    small = split._replace(x_train=split.x_train[:steps * config.batch_size],
                           y_train=split.y_train[:steps * config.batch_size],
                           x_val=split.x_val[:config.batch_size],
                           y_val=split.y_val[:config.batch_size])
    loop_config = replace(config, eval_batch_size=config.batch_size)
    entry = {"model": config.model, "precision": config.precision, "steps": steps,
             "jax_step_s": {k: bench.loop_step(loop_config, small, k) for k in (1, 8)}}
    for way in bench.TORCH_WAYS:
        entry[f"torch_{way}_step_s"] = {k: bench.torch_seeds_step(config, split, device, k, steps,
                                                                  way) for k in (1, 8)}
    return entry


def sweep(json_path: Path, data_dir, dry_run: bool) -> dict:
    """The grid x 5 seeds, JAX engine, into sweep-gpu/ beside the JSON (a dry run: two
    configurations, 500 images, 2 iterations)."""
    from fmnist_jax.mlp.sweep import GRID, load_data, run_sweep

    configs = GRID[:2] if dry_run else GRID
    data = load_data(data_dir, 500 if dry_run else None)
    start = time.perf_counter()
    rows = run_sweep(configs, data, json_path.parent / "sweep-gpu", engine="jax", seeds=range(5),
                     max_iter=2 if dry_run else None, log=lambda line: print(line, flush=True))
    return {"sweep": [config.name for config in configs], "seeds": 5, "rows": len(rows),
            "wall_s": time.perf_counter() - start}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--data-dir", help="directory with the four Fashion-MNIST files")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny synthetic data and 2 epochs: checks the script on a CPU")
    parser.add_argument("--torch-epochs", type=int, default=3,
                        help="epochs of the torch_ref cnn timing (default %(default)s)")
    args = parser.parse_args(argv)
    base = TrainConfig(progress=False, checkpoint_every=0)
    if args.dry_run:
        split = synthetic_split(n_train=64, n_val=32, n_test=32)
        base = replace(base, max_epochs=2, batch_size=32, eval_batch_size=32)
    else:
        split = api.load_split(base, args.data_dir)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    figures = {"runs": [], "provenance": provenance(("jax", "torch"))}

    def record(entry: dict) -> None:
        figures["runs"].append(entry)
        print(json.dumps(entry), flush=True)
        write_json(args.json, figures)

    for precision in ("tf32", "bf16"):
        record(jax_run(replace(base, model="cnn", seeds=8, precision=precision), split))
    record(jax_run(replace(base, model="simple", seeds=8), split))
    one_epoch = replace(base, model="cnn", max_epochs=1, precision="tf32")
    # lax.conv inside the compiled loop is XLA's slow path on a CPU (tens of seconds a step):
    # the dry run leaves it out
    for conv in ("patches",) if args.dry_run else ("patches", "lax"):
        for seeds in (1, 8):
            record(jax_run(replace(one_epoch, conv=conv, seeds=seeds), split))
    for model in ("simple", "cnn"):
        record(many_seeds(replace(base, model=model, precision="tf32"), split,
                          steps=2 if args.dry_run else 20))
    record(torch_run(replace(base, model="cnn", precision="tf32",
                             max_epochs=min(args.torch_epochs, base.max_epochs)), split))
    record(sweep(args.json, args.data_dir, args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
