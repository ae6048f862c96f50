"""How stable the selected features are: selection frequency over patient resamples.

The selection chain's hard thresholds (p < 0.05, |r| > 0.9, LASSO's lambda) make the
selected set sensitive to which patients are in the training set. Refitting the fitted
chain on many resamples of the training patients and counting how often each feature is
kept shows a reader which selected features are robust and which are one draw's luck
(Meinshausen & Bühlmann's stability selection, with the study's own chain).

Resamples are subsamples of *patients* (with their near-duplicate groups) without
replacement, not bootstrap samples: a bootstrap repeats rows, which shrinks the t-test's
p-values and would overstate stability. LASSO's lambda is held at the value the training
set chose, so a resample tests the selection, not the lambda search.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline


def selection_frequency(selection: Pipeline, X: pd.DataFrame, y: Any, groups: Any,
                        *, resamples: int = 50, fraction: float = 0.8,
                        random_state: int = 0) -> pd.Series:
    """Share of patient subsamples in which each feature is selected (sorted, descending).

    ``selection`` is a *fitted* selection pipeline whose last step is a
    :class:`~sonomics.selection.LassoSelector`; its chosen lambda is reused. Only features
    selected at least once appear. Resamples in which the chain fails (a class too small)
    are skipped; the number used is ``frequency.attrs["resamples"]``.
    """
    from joblib import Parallel, delayed

    from sonomics.system import available_cores

    y = np.asarray(y)
    groups = np.asarray(groups if groups is not None else np.arange(len(y)))
    unique = np.unique(groups)
    rng = np.random.default_rng(random_state)
    chain = clone(selection)
    chain.set_params(lasso__alpha=float(selection.named_steps["lasso"].alpha_))
    size = max(2, int(round(fraction * unique.size)))
    subsets = [np.isin(groups, rng.choice(unique, size=size, replace=False))
               for _ in range(resamples)]
    subsets = [rows for rows in subsets if len(np.unique(y[rows])) == 2]
    jobs = min(available_cores(), max(1, len(subsets) // 10))  # a pool only when it pays
    # threads: numpy, BLAS and the LASSO's coordinate descent release the GIL, and no
    # worker process outlives the study (as a process pool's idle workers would)
    kept = Parallel(n_jobs=jobs, prefer="threads")(
        delayed(_selected)(chain, X[rows], y[rows]) for rows in subsets)
    counts: dict[str, int] = {}
    used = 0
    for names in kept:
        if names is None:
            continue
        used += 1
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    freq = pd.Series(counts, dtype=float).div(max(used, 1)).sort_values(ascending=False)
    freq.index.name = "feature"
    freq.attrs["resamples"] = used
    return freq


def _selected(chain: Pipeline, X: pd.DataFrame, y: np.ndarray) -> list[str] | None:
    """The features a fresh copy of the chain selects on one subsample (None: it failed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return [str(c) for c in clone(chain).fit(X, y).get_feature_names_out()]
        except ValueError:
            return None


def stability_table(freq: pd.Series, selected: list[str], top: int = 20) -> pd.DataFrame:
    """The selected features' frequencies, then the most frequent features not selected."""
    rows = [{"feature": f, "selected in the model": True,
             "selection frequency": float(freq.get(f, 0.0))} for f in selected]
    chosen = set(selected)
    others = [f for f in freq.index if f not in chosen][:max(0, top - len(selected))]
    rows += [{"feature": f, "selected in the model": False,
              "selection frequency": float(freq[f])} for f in others]
    return pd.DataFrame(rows)
