"""The plots of a run directory (matplotlib's object API, PNG): learning curves, mean confusion
matrix, test accuracy per seed. Nothing here touches pyplot's global state or backend, so
importing it in a notebook changes nothing there."""

import io
from pathlib import Path

import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from fmnist_jax.data.split import CLASS_NAMES
from fmnist_jax.reporting.comparable import PLOT_CAVEAT
from fmnist_jax.reporting.published import PUBLISHED
from fmnist_jax.reporting.rundir import write_atomic
from fmnist_jax.reporting.stats import published_interval


def save(fig: Figure, path: Path) -> None:
    """Saves a figure as PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    write_atomic(path, buffer.getvalue())


def figure(ncols: int = 1, size=(6, 4.5)) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=size)
    return fig, np.atleast_1d(fig.subplots(1, ncols))


def curves(run_dir: Path, results: dict) -> None:
    """Train and validation loss, and validation accuracy, per epoch: every run thin, the mean
    of each learning rate bold, each run's stop marked with an x."""
    fig, axes = figure(2, (13, 4.8))
    panels = ((axes[0], ("train_loss", "val_loss"), "loss"),
              (axes[1], ("val_accuracy",), "validation accuracy"))
    for ax, names, label in panels:
        for lr in sorted({run["learning_rate"] for run in results["runs"]}):
            runs = [r for r in results["runs"] if r["learning_rate"] == lr]
            for name in names:
                _plot_runs(ax, [np.asarray(r["history"][name], float) for r in runs],
                           f"lr {lr:g}, {name.replace('_', ' ')}", dashed=name == "train_loss")
        ax.set(xlabel="epoch", ylabel=label, title=label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(f"{results['framework']} {results['model']}: per-epoch metrics "
                 "(thin: runs, bold: mean, x: stop)")
    save(fig, run_dir / "curves.png")


def _plot_runs(ax, runs: list[np.ndarray], label: str, dashed: bool) -> None:
    """Each run thin with an x at its stop, and their mean over the runs still going, bold."""
    style = "--" if dashed else "-"
    line = ax.plot([], [], style, lw=2.5, label=f"{label} (mean of {len(runs)})")[0]
    color = line.get_color()
    for values in runs:
        if len(values):
            ax.plot(np.arange(1, len(values) + 1), values, style, lw=0.7, alpha=0.4, color=color)
            ax.plot(len(values), values[-1], "x", color=color, ms=5)
    longest = max((len(v) for v in runs), default=0)
    padded = np.full((len(runs), longest), np.nan)
    for i, values in enumerate(runs):
        padded[i, :len(values)] = values
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(padded), axis=0)
        mean = np.where(counts > 0, np.nansum(padded, axis=0) / np.maximum(counts, 1), np.nan)
    line.set_data(np.arange(1, longest + 1), mean)


def confusion(run_dir: Path, results: dict) -> None:
    """The mean test confusion matrix over the runs that did not diverge, with class names."""
    runs = [r for r in results["runs"] if r["stopped"] != "diverged"] or results["runs"]
    matrix = np.mean([r["confusion_matrix"] for r in runs], axis=0)
    fig, (ax,) = figure(1, (8, 7))
    names = None if "own_model" in results else CLASS_NAMES  # a user's classes are numbers
    fig.colorbar(draw_confusion(ax, matrix, names), ax=ax, fraction=0.046,
                 label="test images (mean over runs)")
    ax.set_title(f"{results['framework']} {results['model']}: mean confusion matrix "
                 f"({len(runs)} runs)")
    save(fig, run_dir / "confusion.png")


def draw_confusion(ax, matrix: np.ndarray, names=CLASS_NAMES):
    """A confusion matrix on `ax`: counts in the cells, class names (or, with `names` None,
    class numbers) on both axes."""
    names = names or [str(i) for i in range(len(matrix))]
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=7,
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    return image


def draw_accuracy_strip(ax, samples: list[tuple[str, list[float]]], model: str,
                        show_study: bool = True) -> None:
    """Test accuracy per seed of each labelled sample (a point each, a bar at the mean), with
    the study's published mean and 95% interval of `model` as a band."""
    jitter = np.random.default_rng(0)
    for x, (_, values) in enumerate(samples):
        ax.scatter(x + jitter.uniform(-0.12, 0.12, len(values)), values, s=28, alpha=0.8)
        if values:
            ax.hlines(np.mean(values), x - 0.25, x + 0.25, color="black", lw=2)
    study = PUBLISHED.get(model)
    if study and show_study:
        low, high = published_interval(study.accuracy_mean, study.accuracy_std, study.count)
        ax.axhspan(low, high, color="tab:orange", alpha=0.2, label="study 95% interval")
        ax.axhline(study.accuracy_mean, color="tab:orange", lw=1.5, label="study mean")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_xticks(range(len(samples)), [label for label, _ in samples])
    ax.set(ylabel="test accuracy")
    ax.grid(axis="y", alpha=0.3)


def accuracy_strip(run_dir: Path, results: dict, show_study: bool = True) -> None:
    """Test accuracy per seed and learning rate, beside the study's interval if `show_study`
    (else the title says why not)."""
    rates = sorted({r["learning_rate"] for r in results["runs"]})
    samples = [(f"lr {lr:g}", [r["test_accuracy"] for r in results["runs"]
                               if r["learning_rate"] == lr and r["stopped"] != "diverged"])
               for lr in rates]
    fig, (ax,) = figure(1, (max(4.0, 1.6 * len(rates) + 2), 4.5))
    draw_accuracy_strip(ax, samples, results["model"], show_study)
    title = f"{results['framework']} {results['model']}: test accuracy per seed (bar = mean)"
    ax.set_title(title if show_study else f"{title}\n{PLOT_CAVEAT}")
    save(fig, run_dir / "accuracy.png")


def write_all(run_dir: Path, results: dict, show_study: bool) -> None:
    """curves.png, confusion.png and accuracy.png (with the study's interval if `show_study`)."""
    curves(run_dir, results)
    confusion(run_dir, results)
    accuracy_strip(run_dir, results, show_study)
