"""Statistics for many-seed results (scipy.stats), used by summaries, comparisons and the study
report."""

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
    """Difference of means (a - b), its 95% Welch interval and the two-sided p-value of
    Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`). Two constant samples have no
    variance to test with: p is 1 when their means are equal and 0 otherwise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(a.mean() - b.mean())
    if a.var() == 0 and b.var() == 0:
        return {"diff": diff, "ci_low": diff, "ci_high": diff, "p_value": 1.0 if diff == 0 else 0.0}
    test = stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(CONFIDENCE)
    return {"diff": diff, "ci_low": float(low), "ci_high": float(high),
            "p_value": float(test.pvalue)}


def welch_from_stats(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float,
                     n_b: int) -> dict:
    """Welch's t-test of a - b from summary statistics alone (a published mean, stdev and run
    count, say): `scipy.stats.ttest_ind_from_stats(equal_var=False)`."""
    test = stats.ttest_ind_from_stats(mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False)
    return {"diff": mean_a - mean_b, "p_value": float(test.pvalue)}
