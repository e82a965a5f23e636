"""Summaries of a run directory, in the study's columns, beside its published figures (no JAX).

`write_summary(run_dir)` reads results.json and writes summary.json, summary.csv, summary.md and
the plots. Diverged runs are counted but left out of the means.
"""

import csv
import io
import math
from pathlib import Path

from fmnist_jax import plots
from fmnist_jax.rundir import read_json, write_atomic, write_json
from fmnist_jax.stats import describe, published_interval
from fmnist_jax.study import PUBLISHED

COLUMNS = ("model", "learning_rate", "count", "diverged", "success_avg", "success_stdev",
           "success_ci_low", "success_ci_high", "loss_avg", "loss_stdev", "run_time_avg_s",
           "run_time_stdev_s", "epochs_avg", "program_wall_s", "time_basis")


def summarize(results: dict) -> list[dict]:
    """One row per learning rate: the study's columns plus epochs, a 95% CI and timing."""
    rows = []
    for lr in sorted({run["learning_rate"] for run in results["runs"]}):
        runs = [r for r in results["runs"] if r["learning_rate"] == lr]
        ok = [r for r in runs if r["stopped"] != "diverged"]
        accuracy = describe([r["test_accuracy"] for r in ok])
        loss = describe([r["test_loss"] for r in ok])
        run_time = describe([r["time_s"] for r in ok])
        vmapped = results["framework"] == "jax"
        rows.append({
            "model": results["model"], "learning_rate": lr, "count": len(ok),
            "diverged": len(runs) - len(ok),
            "success_avg": accuracy["mean"], "success_stdev": accuracy["std"],
            "success_ci_low": accuracy["ci_low"], "success_ci_high": accuracy["ci_high"],
            "loss_avg": loss["mean"], "loss_stdev": loss["std"],
            "run_time_avg_s": run_time["mean"], "run_time_stdev_s": run_time["std"],
            "epochs_avg": describe([r["epochs"] for r in ok])["mean"],
            "program_wall_s": results["wall_time_s"],
            "time_basis": "wall/K of one vmapped program" if vmapped else "each run timed alone",
            **_beside_study(results["model"], accuracy["mean"]),
        })
    return rows


def _beside_study(model: str, mean: float) -> dict:
    row = PUBLISHED.get(model)
    if row is None:
        return {}
    low, high = published_interval(row.accuracy_mean, row.accuracy_std, row.count)
    return {"study_success_avg": row.accuracy_mean, "study_success_stdev": row.accuracy_std,
            "study_ci_low": low, "study_ci_high": high,
            "study_run_time_avg_s": row.run_time_mean_s, "inside_study_ci": bool(low <= mean <= high)}


def markdown(results: dict, rows: list[dict]) -> str:
    """The summary as a Markdown table, ours then the study's published row."""
    lines = [f"# {results['framework']} · {results['model']} · {results['device']}", "",
             ("| source | lr | count | diverged | success avg | success stdev | 95% CI | "
              "loss avg | loss stdev | run time avg (s) | run time stdev | epochs avg |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| ours | {r['learning_rate']:g} | {r['count']} | {r['diverged']} | "
                     f"{_cell(r['success_avg'])} | {_cell(r['success_stdev'])} | "
                     f"{_interval(r['success_ci_low'], r['success_ci_high'])} | "
                     f"{_cell(r['loss_avg'])} | {_cell(r['loss_stdev'])} | "
                     f"{_cell(r['run_time_avg_s'], '.2f')} | {_cell(r['run_time_stdev_s'], '.2f')} | "
                     f"{_cell(r['epochs_avg'], '.1f')} |")
    study = PUBLISHED.get(results["model"])
    if study:
        low, high = published_interval(study.accuracy_mean, study.accuracy_std, study.count)
        lines.append(f"| study | 0.001 | {study.count} | – | {study.accuracy_mean:.4f} | "
                     f"{study.accuracy_std:.4f} | {low:.4f}–{high:.4f} | {study.loss_mean:.4f} | "
                     f"{study.loss_std:.4f} | {study.run_time_mean_s:.2f} | "
                     f"{study.run_time_std_s:.2f} | – |")
    lines += ["", f"Run time: {rows[0]['time_basis']}; the whole program took "
                  f"{results['wall_time_s']:.2f} s of training"
              + (f" after {results['compile_time_s']:.2f} s of compilation."
                 if results.get("compile_time_s") is not None else ".")]
    for r in rows:
        if "inside_study_ci" in r:
            where = "inside" if r["inside_study_ci"] else "outside"
            lines.append(f"lr {r['learning_rate']:g}: our mean accuracy {r['success_avg']:.4f} is "
                         f"{where} the study's 95% interval {r['study_ci_low']:.4f}–"
                         f"{r['study_ci_high']:.4f}.")
    return "\n".join(lines) + "\n"


def _cell(value: float, spec: str = ".4f") -> str:
    """A number for the table, or n/a where it is undefined (a stdev of one run, say)."""
    return "n/a" if math.isnan(value) else format(value, spec)


def _interval(low: float, high: float) -> str:
    return "n/a" if math.isnan(low) else f"{low:.4f}–{high:.4f}"


def write_summary(run_dir) -> dict:
    """Writes summary.json, summary.csv, summary.md and the plots; returns the summary."""
    run_dir = Path(run_dir)
    results = read_json(run_dir / "results.json")
    rows = summarize(results)
    write_json(run_dir / "summary.json", rows)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(run_dir / "summary.csv", text.getvalue().encode())
    write_atomic(run_dir / "summary.md", markdown(results, rows).encode())
    plots.write_all(run_dir, results)
    return {"rows": rows, "markdown": markdown(results, rows)}


def runs_table(results: dict) -> str:
    """A per-run table for the terminal."""
    lines = ["  seed        lr  epochs  stopped     test acc  test loss  best val loss @ epoch"]
    for r in results["runs"]:
        best = "n/a" if r["best_val_loss"] is None else f"{r['best_val_loss']:.4f} @ {r['best_epoch']}"
        lines.append(f"{r['seed']:6d} {r['learning_rate']:9.2g} {r['epochs']:7d}  "
                     f"{r['stopped']:<10}  {r['test_accuracy']:8.4f}  {r['test_loss']:9.4f}  {best}")
    return "\n".join(lines)
