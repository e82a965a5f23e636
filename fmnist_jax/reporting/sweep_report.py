"""The sweep's report: per configuration that ran, our runs (many seeds: mean and 95% interval)
beside the study's single figure where the sweep followed the study's protocol
(`comparable.sweep_deviations`), which variations differ from the base case (Welch's test, Holm's
correction for the comparisons), and plots: accuracy intervals, confusion heatmaps.

The study's sweep figures are defined once, with the grid they belong to (`mlp.sweep.GRID`,
`mlp.sweep.PUBLISHED_LARGE_CONFUSION`); the prose here is derived from them."""

import math
from pathlib import Path

import numpy as np

from fmnist_jax.mlp.sweep import BY_NAME, GRID, PUBLISHED_LARGE_CONFUSION
from fmnist_jax.reporting.comparable import (
    PLOT_CAVEAT,
    SWEEP_SETTINGS,
    not_beside,
    sweep_deviations,
)
from fmnist_jax.reporting.formatting import NOT_APPLICABLE, interval, number
from fmnist_jax.reporting.provenance import footer, provenance
from fmnist_jax.reporting.rundir import write_atomic
from fmnist_jax.reporting.stats import describe, welch

ACCURACY_PNG = "accuracy.png"
CONFUSION_PNG = "confusion_large.png"
ALPHA = 0.05
COLUMNS = ("name", "setting changed", "seeds", "accuracy (mean)", "95% CI", "study",
           "Δ vs study", "reference", "Δ vs base", "Holm p", "fit s (mean)", "study fit s",
           "n_iter (mean)", "converged")
STUDY_COLUMNS = ("study", "Δ vs study", "study fit s")
FOOTNOTE = ("Accuracy is test accuracy over the seeds run; the 95% interval is Student's t "
            "(n/a for one seed). Δ vs base is the configuration's mean minus the base case's, "
            "tested by Welch's t-test with Holm's correction over every configuration compared "
            "(marked * below 0.05). \"reference\" is another sweep's single figure for the same "
            "configuration when given (`--compare-with`).")
LARGE = BY_NAME["large"]
STUDY_FOOTNOTE = (
    "The study fitted each configuration once, unseeded, on 8 BLAS threads; it gives the large "
    f"model's time as \"about 4 minutes\" ({LARGE.published_fit_time_s:g} s here), and its "
    "published large-model confusion matrix has a diagonal of "
    f"{np.trace(PUBLISHED_LARGE_CONFUSION)}, an accuracy of "
    f"{np.trace(PUBLISHED_LARGE_CONFUSION) / PUBLISHED_LARGE_CONFUSION.sum():.4f}, not the "
    f"{LARGE.published_accuracy:g} its text reports.")


def confusion(row: dict) -> np.ndarray:
    return np.array(row["confusion_matrix"].split(), dtype=int).reshape(10, 10)


def by_config(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by configuration, in grid order."""
    groups = {config.name: [] for config in GRID}
    for row in rows:
        groups[row["name"]].append(row)
    return {name: group for name, group in groups.items() if group}


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and does not count)."""
    valid = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted, running = [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(valid):
        running = max(running, min(1.0, (len(valid) - rank) * p))
        adjusted[i] = running
    return adjusted


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per configuration: accuracy and fit-time statistics, iterations, and the difference from
    the base case with its Welch p-value, Holm-adjusted over the configurations compared."""
    groups = by_config(rows)
    accuracies = {name: [float(r["test_accuracy"]) for r in group]
                  for name, group in groups.items()}
    base = accuracies.get("base", [])
    summary, p_values = {}, []
    for name, group in groups.items():
        versus = (welch(accuracies[name], base) if name != "base" and min(len(base),
                  len(accuracies[name])) > 1 else None)
        p_values.append(versus["p_value"] if versus else math.nan)
        summary[name] = {"seeds": len(group), "accuracy": describe(accuracies[name]),
                         "fit_time_s": describe([float(r["fit_time_s"]) for r in group]),
                         "n_iter": float(np.mean([int(r["n_iter"]) for r in group])),
                         "converged": sum(r["converged"] == "True" for r in group),
                         "vs_base": versus}
    for entry, adjusted in zip(summary.values(), holm(p_values)):
        entry["holm_p"] = adjusted
    return summary


def _conditions(rows: list[dict]) -> list[str]:
    def values(key: str) -> str:
        return ", ".join(sorted({row[key] for row in rows}, key=lambda v: (len(v), v)))

    return [
        (f"- configurations run: {len(by_config(rows))} of {len(GRID)}; engine: "
        f"{values('engine')}; seeds (random_state): {values('random_state')} (the study did "
        "not seed)"),
        (f"- training images: {values('n_train')} (the study: {SWEEP_SETTINGS['n_train'][0]}); "
         "test images: 10000"),
        (f"- max_iter: {values('max_iter')} (the study: {SWEEP_SETTINGS['max_iter'][0]}); tol: "
         f"{values('tol')} "
         "(sklearn's default 1e-4, which the study's code used; its prose says 0.001)"),
        (f"- threads per fit: {values('blas_threads')} (the study: 8); fit time is the wall time "
         "of `fit` (the jax engine: its program's wall time over its seeds)"),
    ]


def _cells(config, entry: dict, reference: dict | None) -> list[str]:
    study = config.published_accuracy
    ref = NOT_APPLICABLE if reference is None else reference["test_accuracy"]
    accuracy = entry["accuracy"]
    versus, holm_p = entry["vs_base"], entry["holm_p"]
    delta = NOT_APPLICABLE if versus is None else f"{versus['diff']:+.4f}"
    marked = (NOT_APPLICABLE if math.isnan(holm_p)
              else f"{holm_p:.3g}" + (" *" if holm_p < ALPHA else ""))
    return [config.name, config.describe(), str(entry["seeds"]), f"{accuracy['mean']:.4f}",
            interval(accuracy["ci_low"], accuracy["ci_high"]), f"{study:.4f}",
            f"{accuracy['mean'] - study:+.4f}", ref, delta, marked,
            number(entry["fit_time_s"]["mean"], ".1f"), f"{config.published_fit_time_s:.1f}",
            number(entry["n_iter"], ".0f"), f"{entry['converged']}/{entry['seeds']}"]


def markdown(rows: list[dict], reference_rows: list[dict] | None = None,
             record: dict | None = None) -> str:
    """The configurations that ran, in grid order, with the study's figures beside them where
    the sweep followed its protocol (else a sentence saying why not)."""
    summary = summarize(rows)
    reference = {row["name"]: row for row in reference_rows or []}
    off = sweep_deviations(rows)
    shown = [i for i, name in enumerate(COLUMNS) if not (off and name in STUDY_COLUMNS)]
    lines = ["# scikit-learn MLPClassifier sweep" + ("" if off else ": ours beside the study's"),
             "", *_conditions(rows), "", *([not_beside("this sweep", off), ""] if off else []),
             _table_row(COLUMNS[i] for i in shown), _table_row(("---",) * len(shown))]
    for config in GRID:
        if config.name in summary:
            cells = _cells(config, summary[config.name], reference.get(config.name))
            lines.append(_table_row(cells[i] for i in shown))
    lines += ["", FOOTNOTE + ("" if off else " " + STUDY_FOOTNOTE)]
    return "\n".join(lines) + "\n" + (footer(record) if record else "")


def _table_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def accuracy_figure(rows: list[dict], reference_rows: list[dict] | None = None):
    """Per configuration that ran: our mean, with its 95% interval and each seed a dot where
    it has two seeds or more; the study's figure where the sweep followed the study's protocol
    (else the title says why not); and the reference sweep's."""
    from fmnist_jax.reporting.plots import figure

    summary = summarize(rows)
    groups = by_config(rows)
    reference = {row["name"]: float(row["test_accuracy"]) for row in reference_rows or []}
    beside_study = not sweep_deviations(rows)
    configs = [config for config in GRID if config.name in summary]
    fig, (ax,) = figure(1, (8, 1.5 + 0.35 * len(configs)))
    for y, config in enumerate(configs):
        if beside_study:
            ax.plot(config.published_accuracy, y, "x", color="tab:gray", ms=8)
        if config.name in reference:
            ax.plot(reference[config.name], y, "s", color="tab:green", ms=5, fillstyle="none")
        accuracy = summary[config.name]["accuracy"]
        if accuracy["n"] > 1:
            values = [float(r["test_accuracy"]) for r in groups[config.name]]
            ax.plot(values, [y + 0.18] * len(values), ".", color="tab:blue", alpha=0.5, ms=4)
            ax.errorbar(accuracy["mean"], y, xerr=[[accuracy["mean"] - accuracy["ci_low"]],
                                                   [accuracy["ci_high"] - accuracy["mean"]]],
                        fmt="o", color="tab:blue", capsize=3, ms=4)
        else:
            ax.plot(accuracy["mean"], y, "o", color="tab:blue", ms=4)
    several = [entry["accuracy"]["n"] > 1 for entry in summary.values()]
    ours = ("ours: mean, 95% CI (dots: seeds)" if all(several) else "ours: one seed"
            if not any(several) else "ours: mean, with a 95% CI where 2+ seeds (dots: seeds)")
    ax.plot([], [], "o", color="tab:blue", label=ours)
    if beside_study:
        ax.plot([], [], "x", color="tab:gray", ms=8, label="study")
    if reference:
        ax.plot([], [], "s", color="tab:green", ms=5, fillstyle="none", label="reference")
    ax.set_yticks(range(len(configs)), [config.name for config in configs])
    ax.set_ylim(len(configs) - 0.5, -0.5)  # first configuration on top
    ax.set_xlabel("test accuracy")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    title = "MLPClassifier sweep: test accuracy per configuration"
    ax.set_title(title if beside_study else f"{title}\n{PLOT_CAVEAT}")
    return fig


def plot_confusions(rows: list[dict], out: Path) -> list[str]:
    """confusion-<name>.png for each configuration that ran (mean over its seeds), and, when
    the large model ran, confusion_large.png, beside the study's published matrix where the
    sweep followed the study's protocol."""
    from fmnist_jax.reporting.plots import draw_confusion, figure, save

    beside_study = not sweep_deviations(rows)
    written = []
    for name, group in by_config(rows).items():
        matrix = np.mean([confusion(row) for row in group], axis=0)
        panels = [(f"{name}, ours (mean of {len(group)} seed(s))", matrix)]
        target = f"confusion-{name}.png"
        if name == "large":
            target = CONFUSION_PNG
            if beside_study:
                title = f"large, study (published; its text says {LARGE.published_accuracy:g})"
                panels.insert(0, (title, PUBLISHED_LARGE_CONFUSION))
        fig, axes = figure(len(panels), (6.5 * len(panels), 6))
        for ax, (title, shown) in zip(axes, panels):
            draw_confusion(ax, shown)
            ax.set_title(f"{title}\naccuracy {np.trace(shown) / shown.sum():.4f}")
        save(fig, Path(out) / target)
        written.append(target)
    return written


def write_summary(out, rows: list[dict], plots: bool = True,
                  reference_rows: list[dict] | None = None, data: dict | None = None,
                  backend: str | None = None) -> None:
    """summary.md and, with `plots`, the accuracy plot and the confusion heatmaps. `data`
    describes the data read (`fmnist_jax.data.sources.describe_source`), and `backend` where
    the fits ran when not here (a Dask cluster), for the provenance."""
    out = Path(out)
    engines = {row["engine"] for row in rows}
    record = provenance(("jax",) if engines == {"jax"} else ("sklearn",), device=backend,
                        data=data)
    write_atomic(out / "summary.md", markdown(rows, reference_rows, record).encode())
    if plots:
        from fmnist_jax.reporting.plots import save

        save(accuracy_figure(rows, reference_rows), out / ACCURACY_PNG)
        plot_confusions(rows, out)
