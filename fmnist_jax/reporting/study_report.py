"""The study's report: our JAX and torch_ref rows beside the published PyTorch table, the
statistics between them, an accuracy plot per model and, when run, the sweep table.

Only a cell that ran the study's protocol (`fmnist_jax.reporting.comparable`) is compared with the
published row, which stands in the table only beside such a cell; a truncated cell is labelled as
such, says why it is not compared and is never called inside or outside the study's interval.
"""

import math
from pathlib import Path

from fmnist_jax.reporting import comparable, compare
from fmnist_jax.reporting import run_report as report
from fmnist_jax.reporting.formatting import NOT_APPLICABLE, interval, number
from fmnist_jax.reporting.plots import draw_accuracy_strip, figure, save
from fmnist_jax.reporting.provenance import footer, provenance
from fmnist_jax.reporting.published import PUBLISHED, STUDY_DESCRIPTION
from fmnist_jax.reporting.rundir import write_atomic, write_json
from fmnist_jax.reporting.stats import describe, published_interval, welch_from_stats

FRAMEWORK_NAMES = {"jax": "JAX (ours)", "torch": "torch_ref (ours)"}


def cell_summary(results: dict) -> dict:
    """A cell's row: statistics of its finished runs, and how it deviates from the protocol."""
    runs = [r for r in results["runs"] if r["stopped"] != "diverged"]
    learning_rate = results["runs"][0]["learning_rate"]
    settings = results.get("protocol", {})
    return {"framework": results["framework"], "model": results["model"],
            "device": results["device"], "diverged": len(results["runs"]) - len(runs),
            "accuracy": describe([r["test_accuracy"] for r in runs]),
            "loss": describe([r["test_loss"] for r in runs]),
            "epochs": describe([r["epochs"] for r in runs]),
            "time_s": describe([r["time_s"] for r in runs]),
            "stopped": sorted({r["stopped"] for r in runs}),
            "eval_loss": results.get("eval_loss"),
            "settings": comparable.describe_run(settings, learning_rate),
            "deviations": comparable.run_deviations(settings, learning_rate),
            "accuracies": [r["test_accuracy"] for r in runs]}


def against_published(cell: dict) -> dict | None:
    """Welch's test of a cell's mean accuracy and loss against the published row (from its
    summary statistics), or None when the cell did not run the study's protocol."""
    row = PUBLISHED.get(cell["model"])
    if row is None or cell["deviations"] or cell["accuracy"]["n"] < 2:
        return None
    accuracy, loss = cell["accuracy"], cell["loss"]
    low, high = published_interval(row.accuracy_mean, row.accuracy_std, row.count)
    return {"accuracy": welch_from_stats(accuracy["mean"], accuracy["std"], accuracy["n"],
                                         row.accuracy_mean, row.accuracy_std, row.count),
            "loss": welch_from_stats(loss["mean"], loss["std"], loss["n"], row.loss_mean,
                                     row.loss_std, row.count),
            "inside_published_interval": bool(low <= accuracy["mean"] <= high)}


def build(cells: dict, sweep_rows) -> dict:
    """The report as data: per model, each cell's row, JAX vs torch_ref, each vs the study."""
    models = {}
    for (framework, model), results in cells.items():
        models.setdefault(model, {})[framework] = cell_summary(results)
    entries = {}
    for model, by_framework in models.items():
        entry = {"cells": by_framework,
                 "published": {f: against_published(c) for f, c in by_framework.items()}}
        if {"jax", "torch"} <= set(by_framework):
            jax_cell, torch_cell = by_framework["jax"], by_framework["torch"]
            sides = _side("JAX", jax_cell), _side("torch_ref", torch_cell)
            entry["jax_minus_torch"] = {
                "accuracy": compare.difference(torch_cell["accuracies"], jax_cell["accuracies"]),
                "protocol_differences": sorted(set(jax_cell["deviations"])
                                               ^ set(torch_cell["deviations"])),
                "compared": comparable.compared(*sides),
                "caveat": comparable.verdict_caveat(model, *sides)}
        entries[model] = entry
    return {"models": entries, "sweep": sweep_rows}


def _side(name: str, cell: dict) -> comparable.Side:
    return comparable.Side(name, cell["accuracy"]["n"], cell["settings"], cell["deviations"])


def _followed(entry: dict) -> bool:
    """Whether some cell of a model ran the study's protocol (so its published row is shown)."""
    return any(not cell["deviations"] for cell in entry["cells"].values())


def markdown(report_data: dict, record: dict) -> str:
    lines = ["# The study, reproduced", "", STUDY_DESCRIPTION, "",
             "## The PyTorch table: ours, and the published row beside cells of its protocol", "",
             ("| model | source | runs | success avg | success stdev | 95% CI | loss avg | "
              "loss stdev | epochs avg | run time avg (s) | device | protocol |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, entry in report_data["models"].items():
        if model in PUBLISHED and _followed(entry):
            c = PUBLISHED[model].cells()
            lines.append(f"| {model} | study (published) | {c['count']} | {c['accuracy']} | "
                         f"{c['accuracy_std']} | {c['interval']} | {c['loss']} | {c['loss_std']} | "
                         f"{NOT_APPLICABLE} | {c['time']} | one GPU | the study's |")
        for framework, cell in entry["cells"].items():
            lines.append(_cell_row(model, framework, cell))
    by_cell = {f"{FRAMEWORK_NAMES[f]} {model}": report.loss_definition(c["eval_loss"])
               for model, e in report_data["models"].items() for f, c in e["cells"].items()}
    losses = (f"every cell: {next(iter(by_cell.values()))}" if len(set(by_cell.values())) == 1
              else "; ".join(f"{cell}: {text}" for cell, text in by_cell.items()))
    lines += ["", f"Losses, {losses}. The published loss is the study's batch-mean test loss.", ""]
    lines += ["## Statistics", ""]
    for model, entry in report_data["models"].items():
        lines += [f"### {model}", ""]
        if "jax_minus_torch" in entry:
            d = entry["jax_minus_torch"]
            acc = d["accuracy"]
            if math.isnan(acc["p_value"]):
                lines.append("JAX − torch_ref, test accuracy: n/a (fewer than 2 runs on a side).")
            else:
                verdict = "differs" if acc["p_value"] < compare.ALPHA else "no significant difference"
                lines.append(f"JAX − torch_ref, test accuracy: {acc['diff']:+.4f} (95% CI "
                             f"{acc['ci_low']:+.4f} to {acc['ci_high']:+.4f}), Welch p = "
                             f"{acc['p_value']:.3g}: {verdict} at p < {compare.ALPHA}.")
            lines.append(f"Compared: {d['compared']}.")
            if d["caveat"]:
                lines.append(d["caveat"])
            if d["protocol_differences"]:
                lines.append("Warning: the two cells ran different protocols: "
                             + "; ".join(d["protocol_differences"]) + ".")
        for framework, published in entry["published"].items():
            cell = entry["cells"][framework]
            name = FRAMEWORK_NAMES[framework]
            if cell["deviations"]:
                lines.append(comparable.not_beside(name, cell["deviations"]))
                continue
            if published is None:
                lines.append(f"{name} against the published row: not compared (fewer than 2 "
                             "runs or no published row).")
                continue
            where = "inside" if published["inside_published_interval"] else "outside"
            lines.append(f"{name} against the published row: mean accuracy "
                         f"{cell['accuracy']['mean']:.4f} is {where} the study's 95% interval; "
                         f"accuracy difference {published['accuracy']['diff']:+.4f}, Welch p = "
                         f"{published['accuracy']['p_value']:.3g}; loss difference "
                         f"{published['loss']['diff']:+.4f}, Welch p = "
                         f"{published['loss']['p_value']:.3g}.")
        lines += ["", f"![{model}: test accuracy per run](accuracy-{model}.png)", ""]
    if report_data["sweep"] is not None:
        from fmnist_jax.reporting import sweep_report

        table = sweep_report.markdown(report_data["sweep"]).split("\n", 2)[2]
        lines += ["## The scikit-learn sweep", "", table]
    return "\n".join(lines) + "\n" + footer(record)


def _cell_row(model: str, framework: str, cell: dict) -> str:
    accuracy, loss = cell["accuracy"], cell["loss"]
    protocol = ("the study's" if not cell["deviations"]
                else "truncated: " + "; ".join(cell["deviations"]))
    diverged = f" ({cell['diverged']} diverged)" if cell["diverged"] else ""
    return (f"| {model} | {FRAMEWORK_NAMES[framework]} | {accuracy['n']}{diverged} | "
            f"{number(accuracy['mean'])} | {number(accuracy['std'])} | "
            f"{interval(accuracy['ci_low'], accuracy['ci_high'])} | "
            f"{number(loss['mean'])} | {number(loss['std'])} | "
            f"{number(cell['epochs']['mean'], '.1f')} | "
            f"{number(cell['time_s']['mean'], '.1f')} | {cell['device']} | {protocol} |")

def plot_model(out: Path, model: str, entry: dict) -> None:
    """accuracy-<model>.png: each cell's runs beside the published interval (shown only when
    some cell ran the study's protocol)."""
    samples = [(FRAMEWORK_NAMES[f], cell["accuracies"]) for f, cell in entry["cells"].items()]
    followed = _followed(entry)
    fig, (ax,) = figure(1, (2.2 * len(samples) + 3, 4.5))
    draw_accuracy_strip(ax, samples, model, show_study=followed)
    title = f"{model}: test accuracy per run (bar = mean)"
    ax.set_title(title if followed else f"{title}\n{comparable.PLOT_CAVEAT}")
    save(fig, out / f"accuracy-{model}.png")


def write_report(out, study, cells: dict, sweep_rows, source: dict | None = None) -> str:
    """report.md, report.json and accuracy-<model>.png in `out`; returns the Markdown. `source`
    describes the data read (`fmnist_jax.data.sources.describe_source`), for the provenance."""
    out = Path(out)
    data = build(cells, sweep_rows)
    frameworks = tuple(dict.fromkeys(f for f, _ in cells)) + (("sklearn",) if sweep_rows else ())
    record = provenance(frameworks, data=source)
    text = markdown(data, record)
    for model, entry in data["models"].items():
        plot_model(out, model, entry)
    write_json(out / "report.json", {**data, "study": _describe(study), "provenance": record})
    write_atomic(out / "report.md", text.encode())
    return text


def _describe(study) -> dict:
    return {"models": list(study.models), "frameworks": list(study.frameworks),
            "seeds": study.seeds, "train": study.train.to_json(), "sweep": list(study.sweep),
            "sweep_subset": study.sweep_subset, "sweep_max_iter": study.sweep_max_iter}
