"""How every report writes a cell it has no number for, and an interval: one spelling for the
run summaries, the study report, the sweep summary and `fmnist compare`."""

import math

UNDEFINED = "n/a"
"""A value the data leave undefined: the stdev or the 95% interval of one run, say."""
NOT_APPLICABLE = "–"
"""A cell with nothing to say: the study's diverged count, a base case's difference from itself."""


def number(value: float | None, spec: str = ".4f") -> str:
    """`value` formatted with `spec`, or n/a when it is None or NaN."""
    return UNDEFINED if value is None or math.isnan(value) else format(value, spec)


def interval(low: float | None, high: float | None, spec: str = ".4f",
             separator: str = "–") -> str:
    """"low–high", or n/a when either end is undefined (fewer than two runs). Signed bounds
    read better apart: `separator=" to "`."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return UNDEFINED
    return f"{low:{spec}}{separator}{high:{spec}}"
