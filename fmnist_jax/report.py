"""Summaries of a run's results, in the study's columns, beside its published figures (no JAX).

`summarize(results)` works on the results in memory; `write_summary(run_dir, results, summary)`
writes summary.json, summary.csv, summary.md and the plots. Diverged runs are counted but left
out of the means. A run is set beside the published figures only when it followed the study's
protocol (`deviations` says where it did not).
"""

import csv
import io
import math
from pathlib import Path

from fmnist_jax import plots, protocol
from fmnist_jax.data import TRAIN_SIZE
from fmnist_jax.provenance import footer
from fmnist_jax.published import PUBLISHED
from fmnist_jax.rundir import write_atomic, write_json
from fmnist_jax.stats import describe, published_interval

STUDY_SETTINGS = {"n_train": TRAIN_SIZE, "patience": protocol.PATIENCE,
                  "max_epochs": protocol.MAX_EPOCHS, "batch_size": protocol.BATCH_SIZE,
                  "eval_loss": "batch-mean", "restore_best": False, "source": "raw",
                  "learning_rate": protocol.LEARNING_RATE}


def protocol_settings(config, n_train: int) -> dict:
    """The settings of a run that decide whether it follows the study's protocol."""
    return {"n_train": n_train, "patience": config.patience, "max_epochs": config.max_epochs,
            "batch_size": config.batch_size, "eval_loss": config.eval_loss,
            "restore_best": config.restore_best, "source": config.source}


def deviations(settings: dict, learning_rate: float) -> list[str]:
    """How a run's settings differ from the study's protocol, in words (empty: they don't)."""
    ours = {**settings, "learning_rate": learning_rate}
    return [f"{name} {ours[name]} (study: {study})" for name, study in STUDY_SETTINGS.items()
            if name in ours and ours[name] != study]


def summarize(results: dict) -> dict:
    """{"rows": one per learning rate (the study's columns, a 95% CI, timing, and the
    published row where the run followed the study's protocol), "markdown": the table}."""
    rows = []
    for lr in sorted({run["learning_rate"] for run in results["runs"]}):
        runs = [r for r in results["runs"] if r["learning_rate"] == lr]
        ok = [r for r in runs if r["stopped"] != "diverged"]
        accuracy = describe([r["test_accuracy"] for r in ok])
        loss = describe([r["test_loss"] for r in ok])
        run_time = describe([r["time_s"] for r in ok])
        vmapped = results["framework"] == "jax"
        differs = deviations(results.get("protocol", {}), lr)
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
            "eval_loss": results.get("eval_loss"), "protocol_deviations": differs,
            **({} if differs else _beside_study(results["model"], accuracy["mean"])),
        })
    return {"rows": rows, "markdown": markdown(results, rows)}


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
    if results["model"] in PUBLISHED:
        c = PUBLISHED[results["model"]].cells()
        lines.append(f"| study | 0.001 | {c['count']} | – | {c['accuracy']} | {c['accuracy_std']} | "
                     f"{c['interval']} | {c['loss']} | {c['loss_std']} | {c['time']} | "
                     f"{c['time_std']} | – |")
    lines += ["", f"Run time: {rows[0]['time_basis']}; the whole program took "
                  f"{results['wall_time_s']:.2f} s of training"
              + (f" after {results['compile_time_s']:.2f} s of compilation."
                 if results.get("compile_time_s") is not None else "."),
              f"Loss: {loss_definition(results.get('eval_loss'))}."]
    for r in rows:
        if r["protocol_deviations"]:
            lines.append(f"lr {r['learning_rate']:g}: not set beside the study's interval: the "
                         f"run deviates from its protocol ({'; '.join(r['protocol_deviations'])}).")
        elif "inside_study_ci" in r:
            where = "inside" if r["inside_study_ci"] else "outside"
            lines.append(f"lr {r['learning_rate']:g}: our mean accuracy {r['success_avg']:.4f} is "
                         f"{where} the study's 95% interval {r['study_ci_low']:.4f}–"
                         f"{r['study_ci_high']:.4f}.")
    text = "\n".join(lines) + "\n"
    return text + (footer(results["provenance"]) if results.get("provenance") else "")


def loss_definition(name: str | None) -> str:
    """A loss definition (`protocol.EVAL_LOSSES`) in words."""
    return {"batch-mean": "validation and test losses are the mean of per-batch mean losses over "
                          "batches of 256 in file order (the study's code)",
            "sample-mean": "validation and test losses are per-image means"}.get(
        name, "validation and test losses are per-image means (recorded before the setting existed)")


def _cell(value, spec: str = ".4f") -> str:
    """A number for the table, or n/a where it is undefined (a stdev of one run, say)."""
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def _interval(low, high) -> str:
    return "n/a" if low is None or math.isnan(low) else f"{low:.4f}–{high:.4f}"


def write_summary(run_dir, results: dict, summary: dict) -> None:
    """Writes summary.json, summary.csv, summary.md and the plots of a run directory."""
    run_dir = Path(run_dir)
    rows = summary["rows"]
    write_json(run_dir / "summary.json", {"rows": rows, "provenance": results.get("provenance")})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "protocol_deviations": "; ".join(row["protocol_deviations"])}
                     for row in rows)
    write_atomic(run_dir / "summary.csv", text.getvalue().encode())
    write_atomic(run_dir / "summary.md", summary["markdown"].encode())
    plots.write_all(run_dir, results, show_study=not any(row["protocol_deviations"] for row in rows))


def runs_table(results: dict) -> str:
    """A per-run table for the terminal."""
    lines = ["  seed        lr  epochs  stopped     test acc  test loss  best val loss @ epoch"]
    for r in results["runs"]:
        best = "n/a" if r["best_val_loss"] is None else f"{r['best_val_loss']:.4f} @ {r['best_epoch']}"
        loss = _cell(r["test_loss"])
        lines.append(f"{r['seed']:6d} {r['learning_rate']:9.2g} {r['epochs']:7d}  "
                     f"{r['stopped']:<10}  {r['test_accuracy']:8.4f}  {loss:>9}  {best}")
    return "\n".join(lines)
