"""Run directories side by side: per model, mean ± stdev of each, their difference with its 95%
CI and Welch's t-test, and the study's published figures (no JAX).

Each run directory contributes one sample per learning rate (its diverged runs left out, as in
the summaries). Every later sample is compared with the first one given. Statistics that need
two seeds per sample are NaN (JSON null, "n/a" in Markdown) when a sample has only one.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist_jax.config import ConfigError
from fmnist_jax.rundir import read_json
from fmnist_jax.stats import describe, published_interval, welch
from fmnist_jax.study import PUBLISHED

ALPHA = 0.05
METRICS = (("test_accuracy", "test accuracy"), ("test_loss", "test loss"))
NAN = float("nan")


@dataclass(frozen=True)
class Sample:
    """The finished runs of one model and learning rate in one run directory."""

    label: str
    framework: str
    model: str
    learning_rate: float
    device: str
    seeds: tuple[int, ...]
    test_accuracy: tuple[float, ...]
    test_loss: tuple[float, ...]
    time_s: tuple[float, ...]
    diverged: int


def load_samples(run_dir: Path) -> list[Sample]:
    """One Sample per learning rate of a run directory (written by `fmnist train` or `torch`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no results.json)")
    results = read_json(run_dir / "results.json")
    rates = sorted({run["learning_rate"] for run in results["runs"]})
    samples = []
    for lr in rates:
        runs = [r for r in results["runs"] if r["learning_rate"] == lr]
        ok = sorted((r for r in runs if r["stopped"] != "diverged"), key=lambda r: r["seed"])
        label = f"{results['framework']} ({run_dir.name}"
        label += f", lr {lr:g})" if len(rates) > 1 else ")"
        samples.append(Sample(label, results["framework"], results["model"], lr,
                              results["device"], *(tuple(r[key] for r in ok) for key in
                                                   ("seed", "test_accuracy", "test_loss", "time_s")),
                              len(runs) - len(ok)))
    return samples


def difference(a, b) -> dict:
    """`welch(b, a)` (b minus a), or NaNs where either side has fewer than two values."""
    if min(len(a), len(b)) < 2:
        diff = float(np.mean(b) - np.mean(a)) if len(a) and len(b) else NAN
        return {"diff": diff, "ci_low": NAN, "ci_high": NAN, "p_value": NAN}
    return welch(b, a)


def verdict(p_value: float) -> str:
    """"differs" at p < 0.05, "consistent" otherwise, "n/a" without a p-value."""
    if math.isnan(p_value):
        return "n/a"
    return "differs" if p_value < ALPHA else "consistent"


def compare(run_dirs: list[Path]) -> dict:
    """The comparison as plain data: per model, each sample, the published row, the differences."""
    samples = [sample for run_dir in run_dirs for sample in load_samples(run_dir)]
    models = {}
    for model in dict.fromkeys(s.model for s in samples):
        group = [s for s in samples if s.model == model]
        models[model] = {"samples": [_describe_sample(s) for s in group],
                         "published": _published(model),
                         "differences": [_differences(group[0], other) for other in group[1:]]}
    return {"alpha": ALPHA, "models": models}


def _differences(base: Sample, other: Sample) -> dict:
    entry = {"a": base.label, "b": other.label}
    for key, _ in METRICS:
        stat = difference(getattr(base, key), getattr(other, key))
        entry[key] = {**stat, "verdict": verdict(stat["p_value"])}
    return entry


def _describe_sample(s: Sample) -> dict:
    return {"label": s.label, "framework": s.framework, "learning_rate": s.learning_rate,
            "device": s.device, "seeds": list(s.seeds), "diverged": s.diverged,
            "test_accuracy_values": list(s.test_accuracy),
            **{key: describe(getattr(s, key)) for key in ("test_accuracy", "test_loss", "time_s")}}


def _published(model: str) -> dict | None:
    row = PUBLISHED.get(model)
    if row is None:
        return None
    low, high = published_interval(row.accuracy_mean, row.accuracy_std, row.count)
    return {"n": row.count, "test_accuracy": {"mean": row.accuracy_mean, "std": row.accuracy_std,
                                              "ci_low": low, "ci_high": high},
            "test_loss": {"mean": row.loss_mean, "std": row.loss_std},
            "time_s": {"mean": row.run_time_mean_s, "std": row.run_time_std_s}}


def markdown(comparison: dict) -> str:
    """Per model: a table of the samples and the study, the differences, and a verdict line."""
    lines = ["# Comparison", ""]
    for model, entry in comparison["models"].items():
        lines += [f"## {model}", "", *_samples_table(entry), ""]
        if not entry["differences"]:
            lines += ["One sample of this model: nothing to compare it with but the study.", ""]
            continue
        lines += ["| difference | estimate | 95% CI | Welch p | verdict |", "|---|---|---|---|---|"]
        for i, d in enumerate(entry["differences"], start=1):
            for key, name in METRICS:
                stat = d[key]
                lines.append(f"| {chr(65 + i)} − A, {name} | {_num(stat['diff'], '+.4f')} | "
                             f"{_interval(stat, '+.4f')} | {_num(stat['p_value'], '.3g')} | "
                             f"{stat['verdict']} |")
        lines.append("")
        for i, d in enumerate(entry["differences"], start=1):
            if any(math.isnan(d[key]["p_value"]) for key, _ in METRICS):
                result = "n/a, a sample with fewer than 2 seeds has no stdev to test with"
            else:
                result = "; ".join(f"{name} {d[key]['verdict']} (p = {d[key]['p_value']:.3g})"
                                   for key, name in METRICS)
            lines.append(f"**Verdict, {model}, {chr(65 + i)} vs A** (differs at p < "
                         f"{comparison['alpha']}): {result}.")
        lines.append("")
    return "\n".join(lines)


def _samples_table(entry: dict) -> list[str]:
    """One column per sample, then the study's published figures when there are any."""
    samples, study = entry["samples"], entry["published"]
    header = [f"{chr(65 + i)}: {s['label']}" for i, s in enumerate(samples)]
    rows = [("seeds", [str(s["test_accuracy"]["n"]) for s in samples], study and str(study["n"])),
            ("diverged", [str(s["diverged"]) for s in samples], "–"),
            ("device", [s["device"] for s in samples], "one GPU (unnamed)")]
    for key, name in (*METRICS, ("time_s", "run time (s)")):
        digits = 2 if key == "time_s" else 4
        rows.append((f"{name}, mean ± stdev", [_mean_std(s[key], digits) for s in samples],
                     study and _mean_std(study[key], digits)))
    rows.append(("test accuracy, 95% CI", [_interval(s["test_accuracy"]) for s in samples],
                 study and _interval(study["test_accuracy"])))
    if study:
        header.append("study (published)")
    lines = ["| | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for label, cells, published in rows:
        lines.append(f"| {label} | " + " | ".join(cells + ([published] if study else [])) + " |")
    return lines


def _num(value: float, fmt: str) -> str:
    return "n/a" if value is None or math.isnan(value) else format(value, fmt)


def _mean_std(stat: dict, digits: int) -> str:
    return f"{_num(stat['mean'], f'.{digits}f')} ± {_num(stat['std'], f'.{digits}f')}"


def _interval(stat: dict, fmt: str = ".4f") -> str:
    if math.isnan(stat["ci_low"]) or math.isnan(stat["ci_high"]) or stat.get("n", 2) < 2:
        return "n/a"
    return f"{stat['ci_low']:{fmt}} to {stat['ci_high']:{fmt}}"


def json_safe(obj):
    """The comparison with NaN and infinities as None, so it is valid JSON."""
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def plot(comparison: dict, path: Path) -> None:
    """Test accuracy per seed, each sample side by side, with its mean and the study's 95% CI."""
    import matplotlib.pyplot as plt

    from fmnist_jax.plots import save

    models = comparison["models"]
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.5), squeeze=False)
    for ax, (model, entry) in zip(axes[0], models.items()):
        samples = entry["samples"]
        width = 0.8 / len(samples)
        for i, s in enumerate(samples):
            x = np.arange(len(s["seeds"])) + (i - (len(samples) - 1) / 2) * width
            points = ax.plot(x, s["test_accuracy_values"], "o", ms=6, alpha=0.85,
                             label=f"{chr(65 + i)}: {s['label']}")
            if s["seeds"]:
                ax.axhline(s["test_accuracy"]["mean"], color=points[0].get_color(), lw=1.2,
                           ls="--")
        published = entry["published"]
        if published:
            study = published["test_accuracy"]
            ax.axhspan(study["ci_low"], study["ci_high"], color="tab:gray", alpha=0.2,
                       label="study 95% CI")
        same_seeds = len({tuple(s["seeds"]) for s in samples}) == 1
        longest = max(len(s["seeds"]) for s in samples)
        ax.set_xticks(range(longest), samples[0]["seeds"] if same_seeds
                      else [f"#{k + 1}" for k in range(longest)])
        ax.set(xlabel=("seed" if same_seeds else "run, in seed order") + " (dashed: mean)",
               ylabel="test accuracy", title=f"{model}: test accuracy per seed")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, path)
