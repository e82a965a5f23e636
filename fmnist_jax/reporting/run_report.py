"""Summaries of a run's results, in the study's columns, beside its published figures (no JAX).

`summarize(results)` works on the results in memory; `write_summary(run_dir, results, summary)`
writes summary.json, summary.csv, summary.md and the plots. Diverged runs are counted but left
out of the means. A learning rate's runs are set beside the published figures only when they
followed the study's protocol (`comparable.run_deviations` says where they did not).
"""

import csv
import io
from pathlib import Path

from fmnist_jax import protocol
from fmnist_jax.reporting import comparable, plots
from fmnist_jax.reporting.formatting import NOT_APPLICABLE, UNDEFINED, interval, number
from fmnist_jax.reporting.provenance import footer
from fmnist_jax.reporting.published import PUBLISHED
from fmnist_jax.reporting.rundir import write_atomic, write_json
from fmnist_jax.reporting.stats import describe, published_interval


def summarize(results: dict) -> dict:
    """{"rows": one per learning rate (the study's columns, a 95% CI, timing, the published
    figures where its runs followed the study's protocol, and a note saying whether they lie
    in the study's interval or why they are not compared), "markdown": the table}."""
    rows = []
    rates = sorted({run["learning_rate"] for run in results["runs"]})
    for lr in rates:
        runs = [r for r in results["runs"] if r["learning_rate"] == lr]
        ok = [r for r in runs if r["stopped"] != "diverged"]
        accuracy = describe([r["test_accuracy"] for r in ok])
        loss = describe([r["test_loss"] for r in ok])
        run_time = describe([r["time_s"] for r in ok])
        vmapped = results["framework"] == "jax"
        differs = comparable.run_deviations(results.get("protocol", {}), lr)
        beside = {} if differs else _beside_study(results["model"], accuracy["mean"])
        subject = "this run" if len(rates) == 1 else f"the runs at lr {lr:g}"
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
            "eval_loss": results.get("eval_loss"), "protocol_deviations": differs, **beside,
            "note": (comparable.not_beside(subject, differs) if differs
                     else _where(lr, accuracy["mean"], beside)),
        })
    return {"rows": rows, "markdown": markdown(results, rows)}


def _beside_study(model: str, mean: float) -> dict:
    row = PUBLISHED[model]
    low, high = published_interval(row.accuracy_mean, row.accuracy_std, row.count)
    return {"study_success_avg": row.accuracy_mean, "study_success_stdev": row.accuracy_std,
            "study_ci_low": low, "study_ci_high": high,
            "study_run_time_avg_s": row.run_time_mean_s, "inside_study_ci": bool(low <= mean <= high)}


def _where(lr: float, mean: float, beside: dict) -> str:
    where = "inside" if beside["inside_study_ci"] else "outside"
    return (f"lr {lr:g}: our mean accuracy {mean:.4f} is {where} the study's 95% interval "
            f"{interval(beside['study_ci_low'], beside['study_ci_high'])}.")


def markdown(results: dict, rows: list[dict]) -> str:
    """The summary as a Markdown table, ours then, where some of ours followed the study's
    protocol, the study's published row."""
    lines = [f"# {results['framework']} · {results['model']} · {results['device']}", "",
             ("| source | lr | count | diverged | success avg | success stdev | 95% CI | "
              "loss avg | loss stdev | run time avg (s) | run time stdev | epochs avg |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| ours | {r['learning_rate']:g} | {r['count']} | {r['diverged']} | "
                     f"{number(r['success_avg'])} | {number(r['success_stdev'])} | "
                     f"{interval(r['success_ci_low'], r['success_ci_high'])} | "
                     f"{number(r['loss_avg'])} | {number(r['loss_stdev'])} | "
                     f"{number(r['run_time_avg_s'], '.2f')} | "
                     f"{number(r['run_time_stdev_s'], '.2f')} | "
                     f"{number(r['epochs_avg'], '.1f')} |")
    if any("inside_study_ci" in r for r in rows):
        c = PUBLISHED[results["model"]].cells()
        lines.append(f"| study | {protocol.LEARNING_RATE:g} | {c['count']} | {NOT_APPLICABLE} | "
                     f"{c['accuracy']} | {c['accuracy_std']} | {c['interval']} | {c['loss']} | "
                     f"{c['loss_std']} | {c['time']} | {c['time_std']} | {NOT_APPLICABLE} |")
    lines += ["", f"Run time: {rows[0]['time_basis']}; the whole program took "
                  f"{results['wall_time_s']:.2f} s of training"
              + (f" after {results['compile_time_s']:.2f} s of compilation."
                 if results.get("compile_time_s") is not None else "."),
              f"Loss: {loss_definition(results.get('eval_loss'))}.", "",
              *(r["note"] for r in rows)]
    text = "\n".join(lines) + "\n"
    return text + (footer(results["provenance"]) if results.get("provenance") else "")


def loss_definition(name: str | None) -> str:
    """A loss definition (`protocol.EVAL_LOSSES`) in words."""
    return {"batch-mean": "validation and test losses are the mean of per-batch mean losses over "
                          "batches of 256 in file order (the study's code)",
            "sample-mean": "validation and test losses are per-image means"}.get(
        name, "validation and test losses are per-image means (recorded before the setting existed)")


def write_summary(run_dir, results: dict, summary: dict) -> None:
    """Writes summary.json, summary.csv, summary.md and the plots of a run directory."""
    run_dir = Path(run_dir)
    rows = summary["rows"]
    write_json(run_dir / "summary.json", {"rows": rows, "provenance": results.get("provenance")})
    text = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "protocol_deviations": "; ".join(row["protocol_deviations"])}
                     for row in rows)
    write_atomic(run_dir / "summary.csv", text.getvalue().encode())
    write_atomic(run_dir / "summary.md", summary["markdown"].encode())
    plots.write_all(run_dir, results, show_study=all("inside_study_ci" in row for row in rows))


def runs_table(results: dict) -> str:
    """A per-run table for the terminal."""
    lines = ["  seed        lr  epochs  stopped     test acc  test loss  best val loss @ epoch"]
    for r in results["runs"]:
        best = (UNDEFINED if r["best_val_loss"] is None
                else f"{r['best_val_loss']:.4f} @ {r['best_epoch']}")
        loss = number(r["test_loss"])
        lines.append(f"{r['seed']:6d} {r['learning_rate']:9.2g} {r['epochs']:7d}  "
                     f"{r['stopped']:<10}  {r['test_accuracy']:8.4f}  {loss:>9}  {best}")
    return "\n".join(lines)
