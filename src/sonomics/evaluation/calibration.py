"""Calibration: a quantile-binned calibration curve and the Hosmer-Lemeshow test.

The Hosmer-Lemeshow test follows ``ResourceSelection::hoslem.test`` (the
algorithm of the R fixture ``hosmer_lemeshow_*``): the predicted probabilities
are cut at their quantiles (R's type-7 quantiles, intervals closed on the
right, the first one also on the left) into ``g`` groups, and

    C = sum over groups and both outcomes of (observed - expected)^2 / expected.

Unlike ``hoslem.test``, which fails on tied quantiles, tied break points are
merged; the degrees of freedom are then ``groups actually formed - 2`` (not
``g - 2``), so merging bins does not make the test anti-conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sonomics.evaluation._checks import DegenerateInputError, check_binary


def _check_probabilities(y: object, prob: object) -> tuple[np.ndarray, np.ndarray]:
    y_arr, p_arr = check_binary(y, prob, name="prob", allow_constant=True)
    if (p_arr < 0).any() or (p_arr > 1).any():
        raise DegenerateInputError("prob: predicted probabilities must lie in [0, 1]")
    return y_arr, p_arr


def quantile_groups(prob: np.ndarray, groups: int) -> np.ndarray:
    """Group index (0-based) of each probability in R's ``cut(p, quantile(p), include.lowest)``.

    Equal break points are merged, so fewer than ``groups`` groups may result.
    """
    breaks = np.unique(np.quantile(prob, np.linspace(0, 1, groups + 1)))  # type-7 quantiles
    if breaks.size < 2:
        return np.zeros(prob.size, dtype=int)
    # right-closed intervals (b[i-1], b[i]]; the lowest value goes into the first one
    idx = np.searchsorted(breaks, prob, side="left") - 1
    return np.clip(idx, 0, breaks.size - 2)


@dataclass(frozen=True)
class HosmerLemeshow:
    """Hosmer-Lemeshow goodness-of-fit result."""

    statistic: float
    df: int
    p: float
    groups: int
    table: pd.DataFrame


def hosmer_lemeshow(y: object, prob: object, groups: int = 10) -> HosmerLemeshow:
    """Hosmer-Lemeshow test with ``groups`` quantile bins; ``df = groups formed - 2``.

    ``table`` holds, per group, n, observed and expected events and non-events.
    """
    if groups < 3:
        raise ValueError(f"groups: need at least 3 groups, got {groups}")
    y_arr, p_arr = _check_probabilities(y, prob)
    gidx = quantile_groups(p_arr, groups)
    formed = np.unique(gidx)
    rows = []
    for g in formed:
        sel = gidx == g
        rows.append({
            "group": int(g) + 1,
            "n": int(sel.sum()),
            "observed_1": float(y_arr[sel].sum()),
            "expected_1": float(p_arr[sel].sum()),
            "observed_0": float((1 - y_arr[sel]).sum()),
            "expected_0": float((1 - p_arr[sel]).sum()),
        })
    table = pd.DataFrame(rows)
    n_groups = len(table)
    if n_groups < 3:
        raise DegenerateInputError(
            f"prob: only {n_groups} distinct quantile group(s); Hosmer-Lemeshow needs >= 3"
        )
    exp = table[["expected_0", "expected_1"]].to_numpy()
    obs = table[["observed_0", "observed_1"]].to_numpy()
    if (exp <= 0).any():
        raise DegenerateInputError(
            "prob: a group has zero expected events or non-events (probabilities of exactly 0/1)"
        )
    stat = float(((obs - exp) ** 2 / exp).sum())
    df = n_groups - 2
    return HosmerLemeshow(stat, df, float(stats.chi2.sf(stat, df)), n_groups, table)


def calibration_curve(y: object, prob: object, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability vs observed event rate in quantile bins.

    Columns: ``bin, n, mean_predicted, observed``; bins are the Hosmer-Lemeshow groups.
    """
    y_arr, p_arr = _check_probabilities(y, prob)
    gidx = quantile_groups(p_arr, bins)
    frame = pd.DataFrame({"bin": gidx + 1, "y": y_arr, "p": p_arr})
    out = frame.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"),
                                   observed=("y", "mean"))
    return out.reset_index()
