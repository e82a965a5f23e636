"""Run directories side by side: per model, mean ± stdev of each, their difference with its 95%
CI and Welch's t-test, and the study's published figures where every sample followed the study's
protocol (no JAX).

Each run directory contributes one sample per learning rate (its diverged runs left out, as in
the summaries). Every later sample is compared with the first one given. Statistics that need
two seeds per sample are NaN (JSON null, "n/a" in Markdown) when a sample has only one. A verdict
states the seeds and settings it compares, and says when it cannot speak for the study's
protocol: fewer seeds than the study's on a side, or a side off its protocol.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist_jax.errors import ConfigError
from fmnist_jax.reporting import comparable
from fmnist_jax.reporting.formatting import NOT_APPLICABLE, UNDEFINED, interval, number
from fmnist_jax.reporting.published import PUBLISHED
from fmnist_jax.reporting.rundir import read_json
from fmnist_jax.reporting.stats import describe, published_interval, welch

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
    protocol: tuple  # sorted (setting, value) pairs, see comparable.protocol_settings

    @property
    def deviations(self) -> list[str]:
        return comparable.run_deviations(dict(self.protocol), self.learning_rate)

    def side(self, name: str) -> comparable.Side:
        """This sample as one side of a verdict."""
        settings = comparable.describe_run(dict(self.protocol), self.learning_rate)
        return comparable.Side(name, len(self.seeds), settings, self.deviations)


def load_samples(run_dir: Path) -> list[Sample]:
    """One Sample per learning rate of a run directory (written by `fmnist train` or `torch`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise ConfigError(f"{run_dir}: not a run directory (no results.json)")
    results = read_json(run_dir / "results.json")
    settings = tuple(sorted(results.get("protocol", _protocol_of_older_run(run_dir)).items()))
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
                              len(runs) - len(ok), settings))
    return samples


def _protocol_of_older_run(run_dir: Path) -> dict:
    """The protocol settings of a run written before results.json recorded them."""
    config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    return {key: config[key] for key in ("patience", "max_epochs", "batch_size", "eval_loss",
                                         "restore_best", "source", "train_subset") if key in config}


def protocol_differences(a: Sample, b: Sample) -> list[str]:
    """The protocol settings in which two samples differ, in words."""
    first, second = dict(a.protocol), dict(b.protocol)
    return [f"{key} {first.get(key)} vs {second.get(key)}" for key in sorted({*first, *second})
            if first.get(key) != second.get(key)]


def difference(a, b) -> dict:
    """`welch(b, a)` (b minus a), or NaNs where either side has fewer than two values."""
    if min(len(a), len(b)) < 2:
        diff = float(np.mean(b) - np.mean(a)) if len(a) and len(b) else NAN
        return {"diff": diff, "ci_low": NAN, "ci_high": NAN, "p_value": NAN}
    return welch(b, a)


def verdict(p_value: float) -> str:
    """"differs" at p < 0.05, "consistent" otherwise, "n/a" without a p-value."""
    if math.isnan(p_value):
        return UNDEFINED
    return "differs" if p_value < ALPHA else "consistent"


def compare(run_dirs: list[Path], force: bool = False) -> dict:
    """The comparison as plain data: per model, each sample, the published row, the differences.

    Samples whose protocol settings differ (training images, patience, loss definition, ...)
    measure different things: a one-line ConfigError unless `force`, when the differences are
    listed beside the statistics instead."""
    samples = [sample for run_dir in run_dirs for sample in load_samples(run_dir)]
    models = {}
    for model in dict.fromkeys(s.model for s in samples):
        group = [s for s in samples if s.model == model]
        for other in group[1:]:
            differing = protocol_differences(group[0], other)
            if differing and not force:
                raise ConfigError(f"{group[0].label} and {other.label} ran different protocols "
                                  f"({'; '.join(differing)}); compare like with like, or pass "
                                  "--force")
        off = comparable.off_protocol([s.side(_letter(i)) for i, s in enumerate(group)])
        models[model] = {"samples": [_describe_sample(s) for s in group],
                         "published": None if off else _published(model),
                         "not_beside_study": [comparable.not_beside(names, deviations)
                                              for names, deviations in off],
                         "differences": [_differences(group[0], other, i)
                                         for i, other in enumerate(group[1:], start=1)]}
    return {"alpha": ALPHA, "models": models}


def _letter(index: int) -> str:
    return chr(65 + index)


def _differences(base: Sample, other: Sample, index: int) -> dict:
    sides = base.side("A"), other.side(_letter(index))
    entry = {"a": base.label, "b": other.label,
             "protocol_differences": protocol_differences(base, other),
             "compared": comparable.compared(*sides),
             "caveat": comparable.verdict_caveat(base.model, *sides)}
    for key, _ in METRICS:
        stat = difference(getattr(base, key), getattr(other, key))
        entry[key] = {**stat, "verdict": verdict(stat["p_value"])}
    return entry


def _describe_sample(s: Sample) -> dict:
    return {"label": s.label, "framework": s.framework, "learning_rate": s.learning_rate,
            "device": s.device, "seeds": list(s.seeds), "diverged": s.diverged,
            "protocol_deviations": s.deviations,
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
        lines += [f"## {model}", "", *_samples_table(entry), "", *entry["not_beside_study"]]
        lines += [""] if entry["not_beside_study"] else []
        if not entry["differences"]:
            lines += ["One sample of this model: nothing to compare it with but the study.", ""]
            continue
        lines += ["| difference | estimate | 95% CI | Welch p | verdict |", "|---|---|---|---|---|"]
        for i, d in enumerate(entry["differences"], start=1):
            for key, name in METRICS:
                stat = d[key]
                lines.append(f"| {_letter(i)} − A, {name} | {number(stat['diff'], '+.4f')} | "
                             f"{_interval(stat, '+.4f')} | {number(stat['p_value'], '.3g')} | "
                             f"{stat['verdict']} |")
        lines.append("")
        for i, d in enumerate(entry["differences"], start=1):
            if any(math.isnan(d[key]["p_value"]) for key, _ in METRICS):
                result = "n/a, a sample with fewer than 2 seeds has no stdev to test with"
            else:
                result = "; ".join(f"{name} {_verdict_words(d[key], comparison['alpha'])}"
                                   for key, name in METRICS)
            lines.append(f"**Verdict, {model}, {_letter(i)} vs A**: {result}.")
            lines.append(f"Compared: {d['compared']}.")
            if d["caveat"]:
                lines.append(d["caveat"])
            if d["protocol_differences"]:
                lines.append(f"Warning: the two ran different protocols "
                             f"({'; '.join(d['protocol_differences'])}), so a difference may "
                             "come from that rather than from the framework.")
        lines.append("")
    return "\n".join(lines)


def _verdict_words(stat: dict, alpha: float) -> str:
    if stat["verdict"] == "differs":
        return f"differs (Welch p = {stat['p_value']:.3g} < {alpha})"
    return f"no significant difference (Welch p = {stat['p_value']:.3g} ≥ {alpha})"


def _samples_table(entry: dict) -> list[str]:
    """One column per sample, then the study's published figures when there are any."""
    samples, study = entry["samples"], entry["published"]
    header = [f"{_letter(i)}: {s['label']}" for i, s in enumerate(samples)]
    rows = [("seeds", [str(s["test_accuracy"]["n"]) for s in samples], study and str(study["n"])),
            ("diverged", [str(s["diverged"]) for s in samples], NOT_APPLICABLE),
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


def _mean_std(stat: dict, digits: int) -> str:
    return f"{number(stat['mean'], f'.{digits}f')} ± {number(stat['std'], f'.{digits}f')}"


def _interval(stat: dict, spec: str = ".4f") -> str:
    return interval(stat["ci_low"], stat["ci_high"], spec, separator=" to ")


def accuracy_figure(comparison: dict):
    """Test accuracy per seed, each sample side by side, with its mean and, where every sample
    followed the study's protocol, the study's 95% CI (else the title says why not)."""
    from fmnist_jax.reporting.plots import figure

    models = comparison["models"]
    fig, axes = figure(len(models), (5.5 * len(models), 4.5))
    for ax, (model, entry) in zip(axes, models.items()):
        samples = entry["samples"]
        width = 0.8 / len(samples)
        for i, s in enumerate(samples):
            x = np.arange(len(s["seeds"])) + (i - (len(samples) - 1) / 2) * width
            points = ax.plot(x, s["test_accuracy_values"], "o", ms=6, alpha=0.85,
                             label=f"{_letter(i)}: {s['label']}")
            if s["seeds"]:
                ax.axhline(s["test_accuracy"]["mean"], color=points[0].get_color(), lw=1.2,
                           ls="--")
        published = entry["published"]
        if published:
            study = published["test_accuracy"]
            ax.axhspan(study["ci_low"], study["ci_high"], color="tab:gray", alpha=0.2,
                       label="study 95% CI")
        title = f"{model}: test accuracy per seed"
        same_seeds = len({tuple(s["seeds"]) for s in samples}) == 1
        longest = max(len(s["seeds"]) for s in samples)
        ax.set_xticks(range(longest), samples[0]["seeds"] if same_seeds
                      else [f"#{k + 1}" for k in range(longest)])
        ax.set(xlabel=("seed" if same_seeds else "run, in seed order") + " (dashed: mean)",
               ylabel="test accuracy",
               title=title if published else f"{title}\n{comparable.PLOT_CAVEAT}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def write_comparison(comparison: dict, out: Path) -> str:
    """Writes compare.md, compare.json (with provenance) and compare.png into `out`; returns
    the Markdown."""
    from fmnist_jax.reporting.plots import save
    from fmnist_jax.reporting.provenance import footer, provenance
    from fmnist_jax.reporting.rundir import write_atomic, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = provenance(())
    text = markdown(comparison) + footer(record)
    write_atomic(out / "compare.md", text.encode())
    write_json(out / "compare.json", {**comparison, "provenance": record})
    save(accuracy_figure(comparison), out / "compare.png")
    return text
