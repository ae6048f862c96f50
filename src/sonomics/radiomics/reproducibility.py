"""Reader reproducibility of radiomic features: ICC tables and perturbation pseudo-readers.

Two sources of "raters" feed the same ICC computation:

* **Inter-reader ICC** (the paper's design): features from reader 1's and
  reader 2's masks of the same images.
* **Perturbation ICC**, when a cohort has one reader only: pseudo-readers made
  from the same image by eroding/dilating the mask by 1-2 px, jittering its
  contour at random (and, optionally, a slight rotation or added noise). It
  measures robustness to small segmentation changes, NOT agreement between two
  observers; every output calls it "perturbation ICC" so nobody mistakes one for
  the other (Zwanenburg et al., Sci. Rep. 2019, proposed this scheme).

:func:`feature_icc_table` computes the ICC of every feature at once with
:func:`sonomics.evaluation.icc.icc_features` (ANOVA mean squares vectorised
over features; forms ICC1, ICC2, ICC3 and the average-measure ICC1k/2k/3k, as in
psych::ICC). The default form is ICC(2,1): two-way random effects, absolute
agreement, single rater.

Perturbation recipes are short strings so that they travel inside an
:class:`~sonomics.radiomics.extract.ExtractionTask` and its cache key:
``"erode:1"``, ``"dilate:2"``, ``"jitter:2:7"`` (amplitude px, seed),
``"rotate:3:7"`` (max degrees, seed), ``"noise:0.02:7"`` (SD as a fraction of the
ROI intensity SD, seed); several are joined with ``"+"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from sonomics.radiomics.extract import ExtractionTask
from sonomics.radiomics.perturbation import (
    DEFAULT_PERTURBATIONS,
    EXTRA_PERTURBATIONS,
    PerturbationError,
    apply_perturbation,
)

__all__ = ["DEFAULT_PERTURBATIONS", "EXTRA_PERTURBATIONS", "PerturbationError",
           "apply_perturbation", "feature_icc_table", "perturbation_tasks", "ratings_cube"]

def perturbation_tasks(tasks: Iterable[ExtractionTask],
                       perturbations: Mapping[str, str] | None = None) -> list[ExtractionTask]:
    """Pseudo-reader copies of each task, one per perturbation (reader = its name)."""
    perturbations = DEFAULT_PERTURBATIONS if perturbations is None else perturbations
    return [replace(task, reader=name, perturbation=recipe)
            for task in tasks for name, recipe in perturbations.items()]


# --------------------------------------------------------------------------- ICC
def ratings_cube(tables: Sequence[pd.DataFrame]) -> tuple[np.ndarray, list[str], list[str]]:
    """Stack per-rater feature tables (index case_id) into (n_cases, k_raters, n_features).

    Only cases and features present (and finite) in every table are kept.
    """
    if len(tables) < 2:
        raise ValueError("ICC needs at least two raters (feature tables)")
    cases = tables[0].index
    features = tables[0].columns
    for t in tables[1:]:
        cases = cases.intersection(t.index, sort=False)
        features = features.intersection(t.columns, sort=False)
    cube = np.stack([t.loc[cases, features].to_numpy(dtype=float) for t in tables], axis=1)
    finite_cases = np.isfinite(cube).all(axis=(1, 2))
    cube = cube[finite_cases]
    return cube, [str(c) for c in cases[finite_cases]], [str(f) for f in features]


def feature_icc_table(tables: Mapping[str, pd.DataFrame], *, form: str = "ICC2",
                      alpha: float = 0.05, threshold: float = 0.85,
                      kind: str = "inter-reader") -> pd.DataFrame:
    """Per-feature ICC of several raters' feature tables, with the keep/drop decision.

    Args:
        tables: rater name -> features (index case_id, one column per feature).
        form: ICC1, ICC2, ICC3, ICC1k, ICC2k or ICC3k (psych::ICC naming).
        alpha: 1 - confidence level of the bounds.
        threshold: features with ICC >= threshold are marked ``keep``.
        kind: "inter-reader" or "perturbation" (written into every row).

    Returns:
        One row per feature: feature, icc, lower, upper, form, kind, raters, n_cases, keep.
        Constant features have ICC NaN and are not kept. (The six psych forms of ONE
        rating matrix are :func:`sonomics.evaluation.icc.icc_forms_table`.)
    """
    from sonomics.evaluation.icc import icc_features

    cube, cases, features = ratings_cube(list(tables.values()))
    if len(cases) < 3:
        raise ValueError(f"ICC needs at least 3 cases rated by every rater, got {len(cases)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = icc_features(cube, features, form=form, alpha=alpha)
    out["form"] = form
    out["kind"] = kind
    out["raters"] = " vs ".join(tables)
    out["n_cases"] = len(cases)
    out["keep"] = np.nan_to_num(out["icc"].to_numpy(dtype=float), nan=-np.inf) >= threshold
    return out
