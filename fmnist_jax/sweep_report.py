"""The sweep's report: our figures beside the study's (summary.md, accuracy bars, heatmaps)."""

from pathlib import Path

import numpy as np

from fmnist_jax.rundir import write_atomic
from fmnist_jax.sklearn_sweep import GRID, PUBLISHED_LARGE_CONFUSION, SweepConfig

ACCURACY_PNG = "accuracy.png"
CONFUSION_PNG = "confusion_large.png"
COLUMNS = ("name", "setting changed", "accuracy", "study", "Δaccuracy", "fit s", "study fit s",
           "fit-time ratio", "fit CPU s", "n_iter", "converged")
FOOTNOTE = ("Δaccuracy is ours minus the study's; the fit-time ratio is ours over the study's. "
            "The study gives the large model's time as \"about 4 minutes\" (240 s here), and its "
            "published large-model confusion matrix has a diagonal of 8796, an accuracy of "
            "0.8796, not the 0.891 its text reports.")


def confusion(row: dict) -> np.ndarray:
    return np.array(row["confusion_matrix"].split(), dtype=int).reshape(10, 10)


def _table_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _conditions(rows: list[dict]) -> list[str]:
    def values(key: str) -> str:
        return ", ".join(sorted({row[key] for row in rows}, key=lambda v: (len(v), v)))

    return [
        f"- configurations run: {len(rows)} of {len(GRID)}",
        f"- training images: {values('n_train')} (the study: 60000); test images: 10000",
        (f"- max_iter: {values('max_iter')} (the study: 10000); tol: {values('tol')} "
         "(sklearn's default 1e-4, which the study's code used; its prose says 0.001)"),
        f"- random_state: {values('random_state')} (the study did not seed)",
        (f"- BLAS threads per fit: {values('blas_threads')} (the study: 8); fit time is the wall "
         "time of `fit` alone, fit CPU time the process's CPU time during it (all threads)"),
    ]


def _cells(config: SweepConfig, row: dict | None) -> tuple[str, ...]:
    """One table row in COLUMNS order: our figures, where the configuration ran, and the study's."""
    study_accuracy, study_fit = config.published_accuracy, config.published_fit_time_s
    ours = ("-",) * 7
    if row is not None:
        accuracy, fit = float(row["test_accuracy"]), float(row["fit_time_s"])
        ours = (f"{accuracy:.4f}", f"{accuracy - study_accuracy:+.4f}", f"{fit:.1f}",
                f"{fit / study_fit:.2f}", f"{float(row['fit_cpu_s']):.1f}", row["n_iter"],
                row["converged"])
    accuracy, delta, fit, ratio, cpu, n_iter, converged = ours
    return (config.name, config.describe(), accuracy, f"{study_accuracy:.4f}", delta, fit,
            f"{study_fit:.1f}", ratio, cpu, n_iter, converged)


def markdown(rows: list[dict]) -> str:
    """The study's table with ours beside it, in grid order; configurations not run show '-'."""
    ours = {row["name"]: row for row in rows}
    lines = ["# scikit-learn MLPClassifier sweep: ours beside the study's", "",
             *_conditions(rows), "", _table_row(COLUMNS), _table_row(("---",) * len(COLUMNS))]
    lines += [_table_row(_cells(config, ours.get(config.name))) for config in GRID]
    lines += ["", FOOTNOTE]
    if "large" in ours:
        lines += ["", "Our large-model confusion matrix (rows true class, columns predicted):", "",
                  "```", *(" ".join(f"{n:4d}" for n in r) for r in confusion(ours["large"])), "```"]
    return "\n".join(lines) + "\n"


def plot_accuracy(rows: list[dict], path: Path) -> None:
    """Horizontal bars per configuration: the study's accuracy and ours."""
    import matplotlib.pyplot as plt

    from fmnist_jax.plots import save

    ours = {row["name"]: float(row["test_accuracy"]) for row in rows}
    names = [config.name for config in GRID]
    y = np.arange(len(names))
    study = [config.published_accuracy for config in GRID]
    mine = [ours.get(name, np.nan) for name in names]
    low = np.floor((np.nanmin([*study, *mine]) - 0.02) * 50) / 50
    fig, ax = plt.subplots(figsize=(7, 8))
    ax.barh(y - 0.2, study, height=0.4, label="study", color="tab:gray")
    ax.barh(y + 0.2, mine, height=0.4, label="ours", color="tab:blue")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(low, np.nanmax([*study, *mine]) + 0.01)
    ax.set_xlabel(f"test accuracy (axis starts at {low:.2f})")
    fig.suptitle("MLPClassifier sweep: test accuracy per configuration")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    save(fig, path)


def plot_confusion(rows: list[dict], path: Path) -> None:
    """The large model's confusion matrix: the study's, and ours beside it when it ran."""
    import matplotlib.pyplot as plt

    from fmnist_jax.plots import draw_confusion, save

    panels = [("study (published; its text says 0.891)", PUBLISHED_LARGE_CONFUSION)]
    panels += [("ours", confusion(row)) for row in rows if row["name"] == "large"]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 6), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], panels):
        draw_confusion(ax, matrix)
        ax.set_title(f"large model, {title}\naccuracy {np.trace(matrix) / matrix.sum():.4f}")
    save(fig, path)


def write_summary(out, rows: list[dict], plots: bool = True) -> None:
    """summary.md, and with `plots` the accuracy bars and the large-model confusion heatmaps."""
    out = Path(out)
    write_atomic(out / "summary.md", markdown(rows).encode())
    if plots:
        plot_accuracy(rows, out / ACCURACY_PNG)
        plot_confusion(rows, out / CONFUSION_PNG)

