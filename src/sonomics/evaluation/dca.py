"""Decision-curve analysis: net benefit against threshold probability.

Net benefit of a model at threshold probability ``pt`` (Vickers & Elkin 2006):

    NB(pt) = TP/n - FP/n * pt / (1 - pt),

calling a case positive when ``prob >= pt`` -- the rule of the ``dcurves``
package, whose output this reproduces (``tests/test_metrics.py`` proves the
equality). "Treat all" is the same formula with every case positive,
"treat none" is 0. Vectorised over thresholds: one sort and a search.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sonomics.evaluation.calibration import _check_probabilities

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def net_benefit(y: object, prob: object, thresholds: object = None) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none at each threshold.

    Columns: ``threshold, model, all, none``. Thresholds must lie in [0, 1).
    """
    y_arr, p_arr = _check_probabilities(y, prob)
    th = np.asarray(DEFAULT_THRESHOLDS if thresholds is None else thresholds, dtype=float)
    if th.ndim != 1 or (th < 0).any() or (th >= 1).any():
        raise ValueError("thresholds: must be a 1-D sequence of probabilities in [0, 1)")
    n = y_arr.size
    pos = np.sort(p_arr[y_arr == 1])
    neg = np.sort(p_arr[y_arr == 0])
    tp = pos.size - np.searchsorted(pos, th, side="left")
    fp = neg.size - np.searchsorted(neg, th, side="left")
    odds = th / (1 - th)
    prevalence = pos.size / n
    return pd.DataFrame({
        "threshold": th,
        "model": tp / n - fp / n * odds,
        "all": prevalence - (1 - prevalence) * odds,
        "none": np.zeros_like(th),
    })


def decision_curves(y: object, probs: dict[str, object], thresholds: object = None
                    ) -> pd.DataFrame:
    """Net benefit of several models on the same cases (one column per model + all/none)."""
    out: pd.DataFrame | None = None
    for name, p in probs.items():
        nb = net_benefit(y, p, thresholds)
        if out is None:
            out = nb[["threshold", "all", "none"]].copy()
        out[name] = nb["model"].to_numpy()
    if out is None:
        raise ValueError("probs: give at least one model")
    return out
