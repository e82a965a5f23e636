"""The three plots of a run directory (matplotlib, PNG): learning curves, mean confusion
matrix, test accuracy per seed."""

import io
from collections import defaultdict
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from fmnist_jax.data import CLASS_NAMES
from fmnist_jax.rundir import read_history, write_atomic
from fmnist_jax.stats import published_interval
from fmnist_jax.study import PUBLISHED


def save(fig, path: Path) -> None:
    """Saves a figure atomically and closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def curves(run_dir: Path, results: dict) -> None:
    """Validation loss and accuracy per epoch: every run thin, the mean bold, stops marked."""
    series = defaultdict(lambda: defaultdict(list))
    for row in read_history(run_dir):
        run = series[(int(row["seed"]), float(row["learning_rate"]))]
        run["val_loss"].append(float(row["val_loss"]))
        run["val_accuracy"].append(float(row["val_accuracy"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, name, label in zip(axes, ("val_loss", "val_accuracy"),
                               ("validation loss", "validation accuracy")):
        for lr in sorted({lr for _, lr in series}):
            runs = [np.array(v[name]) for (_, run_lr), v in series.items() if run_lr == lr]
            line = None
            for values in runs:
                line = ax.plot(np.arange(1, len(values) + 1), values, lw=0.8, alpha=0.45,
                               color=line[0].get_color() if line else None)
                ax.plot(len(values), values[-1], "x", color=line[0].get_color(), ms=6)
            padded = np.full((len(runs), max(map(len, runs))), np.nan)
            for i, values in enumerate(runs):
                padded[i, :len(values)] = values
            mean = np.nanmean(padded, axis=0)
            ax.plot(np.arange(1, len(mean) + 1), mean, lw=2.5, color=line[0].get_color(),
                    label=f"lr {lr:g}: mean of {len(runs)} (x = stop)")
        ax.set(xlabel="epoch", ylabel=label, title=label)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{results['framework']} {results['model']}: per-epoch validation metrics")
    save(fig, run_dir / "curves.png")


def confusion(run_dir: Path, results: dict) -> None:
    """The mean test confusion matrix over the runs that did not diverge, with class names."""
    runs = [r for r in results["runs"] if r["stopped"] != "diverged"] or results["runs"]
    matrix = np.mean([r["confusion_matrix"] for r in runs], axis=0)
    fig, ax = plt.subplots(figsize=(8, 7))
    fig.colorbar(draw_confusion(ax, matrix), ax=ax, fraction=0.046,
                 label="test images (mean over runs)")
    ax.set_title(f"{results['framework']} {results['model']}: mean confusion matrix "
                 f"({len(runs)} runs)")
    save(fig, run_dir / "confusion.png")


def draw_confusion(ax, matrix: np.ndarray):
    """A 10x10 confusion matrix on `ax`: counts in the cells, class names on both axes."""
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count:.0f}", ha="center", va="center", fontsize=7,
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    return image


def accuracy_strip(run_dir: Path, results: dict) -> None:
    """Test accuracy per seed (one point each), the mean, and the study's 95% interval."""
    rates = sorted({r["learning_rate"] for r in results["runs"]})
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(rates) + 2), 4.5))
    jitter = np.random.default_rng(0)
    for x, lr in enumerate(rates):
        values = [r["test_accuracy"] for r in results["runs"]
                  if r["learning_rate"] == lr and r["stopped"] != "diverged"]
        ax.scatter(x + jitter.uniform(-0.12, 0.12, len(values)), values, s=28, alpha=0.8)
        if values:
            ax.hlines(np.mean(values), x - 0.25, x + 0.25, color="black", lw=2)
    study = PUBLISHED.get(results["model"])
    if study:
        low, high = published_interval(study.accuracy_mean, study.accuracy_std, study.count)
        ax.axhspan(low, high, color="tab:orange", alpha=0.2, label="study 95% interval")
        ax.axhline(study.accuracy_mean, color="tab:orange", lw=1.5, label="study mean")
        ax.legend(fontsize=8)
    ax.set_xticks(range(len(rates)), [f"lr {lr:g}" for lr in rates])
    ax.set(ylabel="test accuracy", title=f"{results['framework']} {results['model']}: "
                                         "test accuracy per seed (bar = mean)")
    ax.grid(axis="y", alpha=0.3)
    save(fig, run_dir / "accuracy.png")


def write_all(run_dir: Path, results: dict) -> None:
    curves(run_dir, results)
    confusion(run_dir, results)
    accuracy_strip(run_dir, results)
