"""DeLong's AUC variance, confidence interval and paired test, equal to ``pROC``.

Direction is fixed as in ``pROC::roc(..., levels = c(0, 1), direction = "<")``:
a higher score means malignant (label 1). Ties between a malignant and a
benign score count one half. The structural components ("placements") are
computed from mid-ranks in O(n log n) (Sun & Xu 2014), which is exact.

Edge cases, decided here once:
* fewer than two cases of a class: the DeLong variance (sample variance of the
  placements) is undefined, so :class:`DegenerateInputError` is raised instead
  of returning NaN (pROC returns NA);
* the CI is clipped to [0, 1] as pROC does;
* the paired test's z has the sign of ``AUC(a) - AUC(b)``; when the variance of
  the difference is zero (e.g. identical scores) z is 0 and p is 1 if the AUCs
  are equal, and z = +/-inf, p = 0 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sonomics.evaluation._checks import DegenerateInputError, check_binary

__all__ = ["DegenerateInputError", "DeLongTest", "auc_delong", "delong_matrix", "delong_test",
           "placements", "safe_auc"]


def placements(y: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong placements: ``(auc, V10 over malignant, V01 over benign)``.

    ``V10[i]`` is the fraction of benign scores below malignant case ``i`` (ties
    one half); ``V01[j]`` the fraction of malignant scores above benign case ``j``.
    """
    y = np.asarray(y).astype(int)
    score = np.asarray(score, dtype=float)
    pos = score[y == 1]
    neg = score[y == 0]
    m, n = pos.size, neg.size
    rank_all = stats.rankdata(np.concatenate([pos, neg]))
    rank_pos = stats.rankdata(pos)
    rank_neg = stats.rankdata(neg)
    v10 = (rank_all[:m] - rank_pos) / n
    v01 = 1.0 - (rank_all[m:] - rank_neg) / m
    return float(v10.mean()), v10, v01


def safe_auc(y: object, score: object) -> float:
    """AUC (ties one half, as :func:`placements`), or NaN when only one class is present.

    For monitoring (e.g. a CNN's validation AUC per epoch), where a one-class set is
    possible and not an error; constant scores give 0.5. Non-0/1 labels and NaN or
    infinite scores still raise :class:`DegenerateInputError`.
    """
    y_arr, s_arr = check_binary(y, score, allow_constant=True, min_per_class=0)
    if np.unique(y_arr).size < 2:
        return float("nan")
    return placements(y_arr, s_arr)[0]


def _delong_components(y: np.ndarray, scores: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and the DeLong covariance matrix of several scores on the same cases."""
    v10s, v01s, aucs = [], [], []
    for s in scores:
        auc, v10, v01 = placements(y, s)
        aucs.append(auc)
        v10s.append(v10)
        v01s.append(v01)
    v10m = np.vstack(v10s)
    v01m = np.vstack(v01s)
    m, n = v10m.shape[1], v01m.shape[1]
    s10 = np.atleast_2d(np.cov(v10m, ddof=1))
    s01 = np.atleast_2d(np.cov(v01m, ddof=1))
    return np.asarray(aucs), s10 / m + s01 / n


def auc_delong(y: object, score: object, alpha: float = 0.05) -> tuple[float, float, float]:
    """AUC with its DeLong ``1 - alpha`` confidence interval, as ``pROC::ci.auc(method="delong")``.

    Returns ``(auc, lower, upper)``; the bounds are clipped to [0, 1].

    >>> auc_delong([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9])[0]
    0.8888888888888888
    """
    y_arr, s_arr = check_binary(y, score, min_per_class=2)
    aucs, cov = _delong_components(y_arr, [s_arr])
    sd = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = stats.norm.ppf(1 - alpha / 2)
    auc = float(aucs[0])
    return auc, float(min(max(auc - z * sd, 0.0), 1.0)), float(min(max(auc + z * sd, 0.0), 1.0))


@dataclass(frozen=True)
class DeLongTest:
    """Result of the paired DeLong test (``pROC::roc.test(method="delong", paired=TRUE)``)."""

    auc_a: float
    auc_b: float
    z: float
    p: float


def delong_test(y: object, score_a: object, score_b: object) -> DeLongTest:
    """Paired two-sided DeLong test of ``AUC(a) == AUC(b)`` on the same cases.

    ``z > 0`` means ``a`` has the larger AUC.
    """
    y_arr, a = check_binary(y, score_a, name="score_a", min_per_class=2)
    _, b = check_binary(y, score_b, name="score_b", min_per_class=2)
    aucs, cov = _delong_components(y_arr, [a, b])
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if var <= 1e-15 * max(1.0, float(cov[0, 0] + cov[1, 1])):
        if abs(diff) <= 1e-15:
            return DeLongTest(float(aucs[0]), float(aucs[1]), 0.0, 1.0)
        return DeLongTest(float(aucs[0]), float(aucs[1]), float(np.sign(diff) * np.inf), 0.0)
    z = diff / np.sqrt(var)
    p = float(2 * stats.norm.sf(abs(z)))
    return DeLongTest(float(aucs[0]), float(aucs[1]), float(z), p)


def delong_matrix(y: object, scores: dict[str, object]) -> pd.DataFrame:
    """Symmetric matrix of paired DeLong p-values between every two models (diagonal 1)."""
    return pairs_matrix(delong_pairs(y, scores), list(scores))


def pairs_matrix(pairs: pd.DataFrame, names: list[str], column: str = "P") -> pd.DataFrame:
    """The p-values of :func:`delong_pairs` as a symmetric matrix (diagonal 1)."""
    if len(names) < 2:
        raise ValueError(f"scores: need at least two models to compare, got {names}")
    mat = pd.DataFrame(np.ones((len(names), len(names))), index=names, columns=names)
    for a, b, p in zip(pairs["Model A"], pairs["Model B"], pairs[column], strict=True):
        mat.loc[a, b] = mat.loc[b, a] = p
    return mat


def delong_pairs(y: object, scores: dict[str, object]) -> pd.DataFrame:
    """Every pair of models: AUCs, paired DeLong z, raw p and Holm-adjusted p.

    Ten pairwise tests of five models need a multiplicity correction before any "better
    than every other model" is claimed; Holm's step-down method controls the family-wise
    error rate without assuming independence (statsmodels ``multipletests``).
    """
    from statsmodels.stats.multitest import multipletests

    names = list(scores)
    if len(names) < 2:
        raise ValueError(f"scores: need at least two models to compare, got {names}")
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            t = delong_test(y, scores[a], scores[b])
            rows.append({"Model A": a, "Model B": b, "AUC A": t.auc_a, "AUC B": t.auc_b,
                         "Z": t.z, "P": t.p})
    frame = pd.DataFrame(rows, columns=["Model A", "Model B", "AUC A", "AUC B", "Z", "P"])
    frame["P (Holm)"] = multipletests(frame["P"], method="holm")[1] if len(frame) else []
    return frame
