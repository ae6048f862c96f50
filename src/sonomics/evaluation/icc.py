"""Intraclass correlation coefficients for reader reproducibility, equal to ``psych::ICC``.

The paper keeps a handcrafted feature only when the features computed from two
readers' masks agree (ICC >= 0.85). A 2D ultrasound study has ~1,500 features,
so :func:`icc_vectorised` computes the two-way ANOVA mean squares for every
feature at once with array operations (no per-feature ``aov`` loop). The six
Shrout & Fleiss forms and their confidence bounds follow ``psych::ICC``
(``lmer = FALSE``) formula by formula, including its bounds for ICC2/ICC2k
(Satterthwaite degrees of freedom); the bounds use the ``1 - alpha/2`` F
quantiles, a two-sided 95% interval by default, as psych's "lower bound" and
"upper bound" columns.

Constant features
-----------------
A feature whose ratings have no variance at all (all subjects, all readers
equal) has every mean square zero, so the ICC is 0/0. It is returned as
``NaN`` (bounds, F and p too) instead of raising, and :class:`~sonomics.selection.ICCFilter`
treats ``NaN`` as *not reproducible* and drops the feature: a constant feature
carries no information. A feature with perfect agreement but subject
variance (residual mean square 0) gets ICC = 1 with bounds 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ICC_FORMS: tuple[str, ...] = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")

_DESCRIPTIONS = {
    "ICC1": "Single_raters_absolute",
    "ICC2": "Single_random_raters",
    "ICC3": "Single_fixed_raters",
    "ICC1k": "Average_raters_absolute",
    "ICC2k": "Average_random_raters",
    "ICC3k": "Average_fixed_raters",
}


def _as_3d(ratings: np.ndarray) -> np.ndarray:
    arr = np.asarray(ratings, dtype=float)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(
            f"ratings: expected shape (n_subjects, k_raters[, n_features]), got {arr.shape}"
        )
    n, k, _ = arr.shape
    if n < 2 or k < 2:
        raise ValueError(f"ratings: need >= 2 subjects and >= 2 raters, got n={n}, k={k}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("ratings: contains NaN or infinite values; drop those subjects first")
    return arr


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 -> NaN and x/0 -> +inf, without warnings."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(num, dtype=float) / np.asarray(den, dtype=float)


def _f_to_single(f_stat: np.ndarray, k: int) -> np.ndarray:
    """(F - 1) / (F + k - 1), written so that F = inf gives 1 instead of NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / f_stat
        return (1.0 - inv) / (1.0 + (k - 1) * inv)


def _f_to_average(f_stat: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - 1.0 / f_stat


def mean_squares(ratings: np.ndarray) -> dict[str, np.ndarray]:
    """Two-way ANOVA mean squares per feature (subjects x raters, one rating per cell).

    Returns ``MSB`` (between subjects), ``MSJ`` (between raters/judges), ``MSE``
    (residual) and ``MSW`` (within subjects, pooled raters + residual), each of
    length ``n_features``.
    """
    arr = _as_3d(ratings)
    n, k, _ = arr.shape
    grand = arr.mean(axis=(0, 1))
    subj = arr.mean(axis=1)  # (n, F)
    rater = arr.mean(axis=0)  # (k, F)
    ss_total = ((arr - grand) ** 2).sum(axis=(0, 1))
    ss_subj = k * ((subj - grand) ** 2).sum(axis=0)
    ss_rater = n * ((rater - grand) ** 2).sum(axis=0)
    ss_err = np.maximum(ss_total - ss_subj - ss_rater, 0.0)
    return {
        "MSB": ss_subj / (n - 1),
        "MSJ": ss_rater / (k - 1),
        "MSE": ss_err / ((n - 1) * (k - 1)),
        "MSW": (ss_rater + ss_err) / (n * (k - 1)),
    }


def _all_forms(arr: np.ndarray, alpha: float) -> dict[str, dict[str, np.ndarray]]:
    """Every psych form with ICC, F, df1, df2, p, lower, upper (vectorised over features)."""
    n, k, n_feat = arr.shape
    ms = mean_squares(arr)
    msb, msj, mse, msw = ms["MSB"], ms["MSJ"], ms["MSE"], ms["MSW"]
    constant = (msb == 0) & (msj == 0) & (mse == 0)

    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
        icc3 = (msb - mse) / (msb + (k - 1) * mse)
        icc1k = (msb - msw) / msb
        icc2k = (msb - mse) / (msb + (msj - mse) / n)
        icc3k = (msb - mse) / msb

    df11n, df11d = n - 1, n * (k - 1)
    df21n, df21d = n - 1, (n - 1) * (k - 1)
    f11 = _safe_ratio(msb, msw)
    f21 = _safe_ratio(msb, mse)
    p11 = stats.f.sf(f11, df11n, df11d)
    p21 = stats.f.sf(f21, df21n, df21d)

    q = 1.0 - alpha / 2.0
    f1l = f11 / stats.f.ppf(q, df11n, df11d)
    f1u = f11 * stats.f.ppf(q, df11d, df11n)
    f3l = f21 / stats.f.ppf(q, df21n, df21d)
    f3u = f21 * stats.f.ppf(q, df21d, df21n)

    # ICC2 bounds: Satterthwaite df as in psych (McGraw & Wong 1996, case 2A).
    with np.errstate(divide="ignore", invalid="ignore"):
        fj = msj / mse
        base = n * (1 + (k - 1) * icc2) - k * icc2
        vn = (k - 1) * (n - 1) * (k * icc2 * fj + base) ** 2
        vd = (n - 1) * k**2 * icc2**2 * fj**2 + base**2
        v = vn / vd
        perfect = mse == 0
        v = np.where(perfect | ~np.isfinite(v), np.inf, v)
        f2u = stats.f.ppf(q, n - 1, v)
        f2l = stats.f.ppf(q, v, n - 1)
        denom_common = k * msj + (k * n - k - n) * mse
        l2 = n * (msb - f2u * mse) / (f2u * denom_common + n * msb)
        u2 = n * (f2l * msb - mse) / (denom_common + n * f2l * msb)
        l2k = l2 * k / (1 + l2 * (k - 1))
        u2k = u2 * k / (1 + u2 * (k - 1))

    def pack(icc, f, d1, d2, p, lo, up):
        out = {
            "ICC": np.asarray(icc, dtype=float),
            "F": np.asarray(f, dtype=float),
            "df1": np.full(n_feat, float(d1)),
            "df2": np.full(n_feat, float(d2)),
            "p": np.asarray(p, dtype=float),
            "lower": np.asarray(lo, dtype=float),
            "upper": np.asarray(up, dtype=float),
        }
        # perfect agreement with subject variance: ICC 1 by definition
        ok = perfect & ~constant
        for key in ("ICC", "lower", "upper"):
            out[key] = np.where(ok & ~np.isfinite(out[key]), 1.0, out[key])
        for key in ("ICC", "F", "p", "lower", "upper"):
            out[key] = np.where(constant, np.nan, out[key])
        return out

    return {
        "ICC1": pack(icc1, f11, df11n, df11d, p11, _f_to_single(f1l, k), _f_to_single(f1u, k)),
        "ICC2": pack(icc2, f21, df21n, df21d, p21, l2, u2),
        "ICC3": pack(icc3, f21, df21n, df21d, p21, _f_to_single(f3l, k), _f_to_single(f3u, k)),
        "ICC1k": pack(icc1k, f11, df11n, df11d, p11, _f_to_average(f1l), _f_to_average(f1u)),
        "ICC2k": pack(icc2k, f21, df21n, df21d, p21, l2k, u2k),
        "ICC3k": pack(icc3k, f21, df21n, df21d, p21, _f_to_average(f3l), _f_to_average(f3u)),
    }


def icc_vectorised(
    ratings: np.ndarray, form: str = "ICC2", alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ICC of one form with its bounds for every feature at once.

    Args:
        ratings: array of shape ``(n_subjects, k_raters, n_features)`` (a 2D
            ``(n_subjects, k_raters)`` array is one feature).
        form: one of ``ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k`` (psych names;
            ``ICC2`` = two-way random effects, absolute agreement, single rater).
        alpha: as ``psych::ICC``'s ``alpha`` (two-sided ``1 - alpha`` bounds).

    Returns:
        ``(icc, lower, upper)``, each of length ``n_features``; ``NaN`` for
        constant features (see the module docstring).

    >>> r = np.array([[1.0, 1.1], [2.0, 2.1], [3.0, 2.9], [4.0, 4.2]])
    >>> round(float(icc_vectorised(r, "ICC3")[0][0]), 3)
    0.993
    """
    if form not in ICC_FORMS:
        raise ValueError(f"form: must be one of {list(ICC_FORMS)}, got {form!r}")
    res = _all_forms(_as_3d(ratings), alpha)[form]
    return res["ICC"], res["lower"], res["upper"]


def icc_forms_table(ratings_2d: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """All six ICC forms for one feature, laid out like ``psych::ICC(x)$results``.

    Columns: ``type, description, ICC, F, df1, df2, p, lower bound, upper bound``.
    """
    arr = np.asarray(ratings_2d, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"ratings_2d: expected shape (n_subjects, k_raters), got {arr.shape}")
    forms = _all_forms(_as_3d(arr), alpha)
    rows = []
    for name in ICC_FORMS:
        r = forms[name]
        rows.append({
            "type": name,
            "description": _DESCRIPTIONS[name],
            "ICC": float(r["ICC"][0]),
            "F": float(r["F"][0]),
            "df1": float(r["df1"][0]),
            "df2": float(r["df2"][0]),
            "p": float(r["p"][0]),
            "lower bound": float(r["lower"][0]),
            "upper bound": float(r["upper"][0]),
        })
    return pd.DataFrame(rows)


def icc_features(
    ratings: np.ndarray, feature_names: list[str] | None = None, form: str = "ICC2",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per-feature reproducibility table (``feature, icc, lower, upper``) for one form.

    This is the table :class:`~sonomics.selection.ICCFilter` consumes.
    """
    icc, lo, up = icc_vectorised(ratings, form=form, alpha=alpha)
    names = list(feature_names) if feature_names is not None else [
        f"f{i}" for i in range(icc.size)
    ]
    if len(names) != icc.size:
        raise ValueError(f"feature_names: {len(names)} names for {icc.size} features")
    return pd.DataFrame({"feature": names, "icc": icc, "lower": lo, "upper": up})
