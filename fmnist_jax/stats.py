"""Statistics for many-seed results (scipy.stats), used by summaries and comparisons."""

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def describe(values) -> dict:
    """n, mean, sample stdev and the 95% Student-t confidence interval of the mean (NaN where
    fewer than two values leave them undefined)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    mean = float(x.mean()) if n else float("nan")
    std = float(x.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and std > 0:
        low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=std / np.sqrt(n))
    else:
        low = high = mean if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": std, "ci_low": float(low), "ci_high": float(high)}


def published_interval(mean: float, std: float, n: int) -> tuple[float, float]:
    """The 95% Student-t interval of a published mean, from its stdev and run count."""
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * std / np.sqrt(n)
    return mean - half, mean + half


def welch(a, b) -> dict:
    """Difference of means (a - b) with its 95% Welch interval, and Welch's t-test p-value."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0:
        return {"diff": diff, "ci_low": diff, "ci_high": diff, "p_value": 1.0 if diff == 0 else 0.0}
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se)
    p_value = float(2 * stats.t.sf(abs(diff) / se, dof))  # Welch's t-test, two-sided
    return {"diff": diff, "ci_low": diff - half, "ci_high": diff + half, "p_value": p_value}
