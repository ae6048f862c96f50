"""Feature selectors of the paper's chain (section 2.6), as scikit-learn transformers.

ICC filter -> z-score -> two-sample test -> |Pearson r| filter -> greedy
elimination -> LASSO. Each selector learns only in ``fit`` (attributes ending
in ``_``), selects columns in ``transform`` (via :class:`SelectorMixin`) and
keeps feature names, so a :class:`~sklearn.pipeline.Pipeline` of them can be
re-fitted inside every cross-validation fold without leaking test data.

Selectors that could remove every feature (the univariate test on noise, the
LASSO at a large lambda) never do: they keep the best-ranked ``min_features``
and emit a :class:`SelectionFallbackWarning`, so the downstream classifier
always has something to fit and the fallback is visible.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.linear_model import Lasso, LassoCV, lasso_path
from sklearn.utils.validation import check_is_fitted, validate_data

from sonomics.data.splits import groups_per_class, training_folds

__all__ = [
    "CorrelationFilter",
    "GreedyElimination",
    "ICCFilter",
    "LassoSelector",
    "SelectionFallbackWarning",
    "TTestSelector",
    "univariate_pvalues",
]


class SelectionFallbackWarning(UserWarning):
    """A selector would have kept no feature and kept the best-ranked ones instead."""


def _encoded_y(y: object, who: str) -> np.ndarray:
    """Labels as 0..k-1 (binary: 0 benign, 1 malignant = the larger label)."""
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"{who}: y has one class only; need both benign and malignant cases")
    return codes.astype(int)


def univariate_pvalues(X: np.ndarray, y: np.ndarray, test: str = "welch") -> np.ndarray:
    """Two-sided p-value of each column between the classes (vectorised over columns).

    ``welch``: Welch's unequal-variance t-test; ``mannwhitney``: Mann-Whitney U
    (asymptotic, tie-corrected). The paper's labels are binary; with more than
    two classes the k-sample versions are used (one-way ANOVA, Kruskal-Wallis).
    Undefined p-values (a column constant in every class) are set to 1, i.e.
    not significant.
    """
    if test not in ("welch", "mannwhitney"):
        raise ValueError(f"test: must be 'welch' or 'mannwhitney', got {test!r}")
    codes = _encoded_y(y, "univariate test")
    groups = [X[codes == c] for c in range(codes.max() + 1)]
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if len(groups) > 2:
            if test == "welch":
                p = stats.f_oneway(*groups, axis=0).pvalue
            else:
                p = stats.kruskal(*groups, axis=0).pvalue
        elif test == "welch":
            p = stats.ttest_ind(groups[1], groups[0], axis=0, equal_var=False).pvalue
        else:
            p = stats.mannwhitneyu(groups[1], groups[0], axis=0, alternative="two-sided",
                                   method="asymptotic").pvalue
    p = np.asarray(p, dtype=float)
    return np.where(np.isfinite(p), p, 1.0)


def _feature_names(est: BaseEstimator, n: int) -> np.ndarray:
    names = getattr(est, "feature_names_in_", None)
    return np.asarray(names, dtype=object) if names is not None else np.asarray(
        [f"x{i}" for i in range(n)], dtype=object)


class _Selector(SelectorMixin, BaseEstimator):
    """Shared plumbing: a boolean ``support_`` mask learned in ``fit``."""

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def _validate(self, X, y=None):
        if y is None:
            return validate_data(self, X, dtype=np.float64)
        return validate_data(self, X, y, dtype=np.float64)

    @property
    def selected_features_(self) -> list[str]:
        """Names of the kept features (after ``fit``)."""
        check_is_fitted(self, "support_")
        return list(_feature_names(self, self.support_.size)[self.support_])


class ICCFilter(_Selector):
    """Keep features whose inter-reader ICC is at least ``threshold``.

    Args:
        icc_table: per-feature reproducibility, a DataFrame with ``feature`` and
            ``icc`` columns (as :func:`sonomics.evaluation.icc.icc_features`) or a
            mapping/Series feature -> ICC. ``None`` keeps every feature.
        threshold: keep ``icc >= threshold`` (paper: 0.85).
        missing: what to do with features absent from the table: ``"keep"``
            (default; e.g. deep features in the fusion model have no ICC) or
            ``"drop"``. A feature whose ICC is NaN (constant feature) is dropped.
    """

    def __init__(self, icc_table=None, threshold: float = 0.85, missing: str = "keep"):
        self.icc_table = icc_table
        self.threshold = threshold
        self.missing = missing

    def _icc_map(self) -> dict[str, float]:
        table = self.icc_table
        if table is None:
            return {}
        if isinstance(table, pd.DataFrame):
            if not {"feature", "icc"} <= set(table.columns):
                raise ValueError("icc_table: needs columns 'feature' and 'icc'")
            return dict(zip(table["feature"].astype(str), table["icc"].astype(float),
                            strict=True))
        return {str(k): float(v) for k, v in dict(table).items()}

    def fit(self, X, y=None):
        """Look up each column's ICC; learns ``icc_`` and ``support_``."""
        if self.missing not in ("keep", "drop"):
            raise ValueError(f"missing: must be 'keep' or 'drop', got {self.missing!r}")
        X = self._validate(X)
        names = _feature_names(self, X.shape[1])
        icc_map = self._icc_map()
        self.icc_ = np.array([icc_map.get(str(n), np.nan) for n in names], dtype=float)
        known = np.array([str(n) in icc_map for n in names])
        with np.errstate(invalid="ignore"):
            reproducible = self.icc_ >= self.threshold
        if self.icc_table is None:
            self.support_ = np.ones(X.shape[1], dtype=bool)
        else:
            self.support_ = np.where(known, reproducible, self.missing == "keep")
        if not self.support_.any():
            raise ValueError(
                f"icc_table: no feature reaches ICC >= {self.threshold}; lower "
                "radiomics.icc_threshold or check the reader masks"
            )
        return self


class TTestSelector(_Selector):
    """Keep features that differ between the classes (two-sided p < ``p_threshold``).

    Args:
        test: ``"welch"`` (t-test, unequal variances) or ``"mannwhitney"``.
        p_threshold: keep features with p strictly below this (paper: 0.05).
        min_features: if fewer pass, keep this many with the smallest p-values
            (ties by column order) and warn.
    """

    def __init__(self, test: str = "welch", p_threshold: float = 0.05, min_features: int = 1):
        self.test = test
        self.p_threshold = p_threshold
        self.min_features = min_features

    def fit(self, X, y):
        """Compute ``pvalues_`` and ``support_``."""
        X, y = self._validate(X, y)
        self.pvalues_ = univariate_pvalues(X, y, self.test)
        support = self.pvalues_ < self.p_threshold
        k = min(self.min_features, X.shape[1])
        if support.sum() < k:
            warnings.warn(
                f"TTestSelector: {int(support.sum())} feature(s) with p < {self.p_threshold}; "
                f"keeping the {k} with the smallest p-values", SelectionFallbackWarning,
                stacklevel=2)
            support = np.zeros(X.shape[1], dtype=bool)
            support[np.argsort(self.pvalues_, kind="stable")[:k]] = True
        self.support_ = support
        return self


def _abs_corr(X: np.ndarray) -> np.ndarray:
    """|Pearson r| matrix; constant columns get r = 0 with everything (and 1 with themselves)."""
    Xc = X - X.mean(axis=0)
    norm = np.sqrt((Xc**2).sum(axis=0))
    safe = np.where(norm > 0, norm, 1.0)
    Z = Xc / safe
    r = np.abs(Z.T @ Z)
    np.fill_diagonal(r, 1.0)
    return np.clip(r, 0.0, 1.0)


class CorrelationFilter(_Selector):
    """Of every pair with ``|Pearson r| > threshold``, keep the one with the smaller p-value.

    Deterministic greedy rule: features are visited in order of increasing
    univariate p-value (ties: column order); a feature is kept when its |r| to
    every feature already kept is at most ``threshold``. Hence no kept pair is
    correlated above the threshold, and of a correlated pair the better-ranked
    feature survives.

    Args:
        threshold: |r| above which two features are redundant (paper: 0.9).
        test: univariate test used to rank features (``welch`` | ``mannwhitney``).
    """

    def __init__(self, threshold: float = 0.9, test: str = "welch"):
        self.threshold = threshold
        self.test = test

    def fit(self, X, y):
        """Learn ``pvalues_`` and ``support_``."""
        X, y = self._validate(X, y)
        self.pvalues_ = univariate_pvalues(X, y, self.test)
        r = _abs_corr(X)
        order = np.argsort(self.pvalues_, kind="stable")
        kept: list[int] = []
        for j in order:
            if not kept or r[j, kept].max() <= self.threshold:
                kept.append(int(j))
        support = np.zeros(X.shape[1], dtype=bool)
        support[kept] = True
        self.support_ = support
        return self


class GreedyElimination(_Selector):
    """Greedy recursive elimination of redundant features.

    Algorithm: compute the |Pearson r| matrix once; then repeatedly compute each
    remaining feature's mean |r| to the other remaining features and drop the
    feature with the highest mean (ties: the first column). Stop as soon as
    either (a) at most ``max_features`` features remain, or (b) the highest mean
    |r| is below ``mean_r`` (the set is no longer redundant), or (c) one feature
    remains. Defaults (64, 0.5) keep LASSO's input small without discarding
    weakly correlated features.

    Args:
        max_features: stop when this many features remain.
        mean_r: stop when no feature's mean |r| to the rest reaches this.
    """

    def __init__(self, max_features: int = 64, mean_r: float = 0.5):
        self.max_features = max_features
        self.mean_r = mean_r

    def fit(self, X, y=None):
        """Learn ``support_`` and ``elimination_order_`` (column indices, first dropped first)."""
        X = self._validate(X)
        n_feat = X.shape[1]
        r = _abs_corr(X)
        np.fill_diagonal(r, 0.0)
        alive = np.ones(n_feat, dtype=bool)
        sums = r.sum(axis=1)
        dropped: list[int] = []
        while alive.sum() > max(self.max_features, 1):
            m = alive.sum() - 1
            mean = np.where(alive, sums / m, -np.inf)
            j = int(np.argmax(mean))
            if mean[j] < self.mean_r:
                break
            alive[j] = False
            sums -= r[:, j]
            dropped.append(j)
        self.support_ = alive
        self.elimination_order_ = np.asarray(dropped, dtype=int)
        return self


class LassoSelector(_Selector):
    """LASSO with k-fold CV: lambda at the minimum CV mean squared error; keep non-zero coefs.

    The 0/1 label (with more than two classes: the class index) is regressed
    on the (z-scored) features with :class:`~sklearn.linear_model.LassoCV`
    (stratified, shuffled folds seeded by ``random_state``); lambda is the one
    with the minimum mean CV error (not the 1-SE rule). If every coefficient
    is zero, the features that enter the path first (largest lambda with a
    non-zero coefficient) are kept and a :class:`SelectionFallbackWarning` is
    emitted -- never zero features.

    Learned: ``alpha_`` (chosen lambda), ``coef_`` (coefficients at ``alpha_``,
    all input features), ``alphas_``, ``mse_path_`` (n_alphas x n_folds) and
    ``coef_path_`` (n_features x n_alphas) for the figures, ``support_``.

    Args:
        cv: number of folds (paper: 10; reduced to the smaller class size if needed).
        n_alphas: length of the lambda path.
        random_state: seed of the fold split.
        max_iter: coordinate-descent iterations.
        alpha: a fixed lambda (no CV), e.g. the chosen one re-applied to resamples.
        n_jobs: threads for the CV folds' paths (results do not depend on it).
    """

    def __init__(self, cv: int = 10, n_alphas: int = 100, random_state: int = 0,
                 max_iter: int = 10000, alpha: float | None = None,
                 n_jobs: int | None = None):
        self.cv = cv
        self.n_alphas = n_alphas
        self.random_state = random_state
        self.max_iter = max_iter
        self.alpha = alpha
        self.n_jobs = n_jobs

    def fit(self, X, y, groups=None):
        """Fit the CV LASSO path and keep the features with non-zero coefficients.

        ``groups`` (one per row: patient joined with near-duplicate group) keep each group
        in one fold, so lambda is not chosen on copies of the fitted images.
        """
        X, y = self._validate(X, y)
        codes = _encoded_y(y, "LassoSelector")
        y = codes.astype(float)
        if self.alpha is not None:
            return self._fit_fixed_alpha(X, y)
        n_min = (min(groups_per_class(codes, groups)) if groups is not None
                 else np.bincount(codes).min())
        folds = int(min(self.cv, n_min))
        if folds < 2:
            raise ValueError("LassoSelector: need at least 2 cases (patients) of each class "
                             "for the CV")
        splitter = training_folds(folds, groups, self.random_state)
        alphas = self._alpha_grid(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on tiny folds
            model = LassoCV(alphas=alphas, cv=list(splitter.split(X, codes, groups)),
                            max_iter=self.max_iter, random_state=self.random_state,
                            n_jobs=self.n_jobs)
            model.fit(X, y)
            # lasso_path fits no intercept: centre X and y as LassoCV does internally
            _, coef_path, _ = lasso_path(X - X.mean(axis=0), y - y.mean(),
                                         alphas=model.alphas_, max_iter=self.max_iter)
        self.alpha_ = float(model.alpha_)
        self.coef_ = np.asarray(model.coef_, dtype=float)
        self.intercept_ = float(model.intercept_)
        self.n_iter_ = int(model.n_iter_)
        self.alphas_ = np.asarray(model.alphas_, dtype=float)
        self.mse_path_ = np.asarray(model.mse_path_, dtype=float)
        self.coef_path_ = np.asarray(coef_path, dtype=float)
        self.support_ = self._support(X, y)
        return self

    def _fit_fixed_alpha(self, X: np.ndarray, y: np.ndarray) -> LassoSelector:
        """LASSO at the given lambda, no CV: a chosen lambda re-applied to resamples."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Lasso(alpha=self.alpha, max_iter=self.max_iter).fit(X, y)
        self.alpha_ = float(self.alpha)
        self.coef_ = np.asarray(model.coef_, dtype=float)
        self.intercept_ = float(model.intercept_)
        self.n_iter_ = int(model.n_iter_)
        self.alphas_ = np.array([self.alpha_])
        self.mse_path_ = np.empty((1, 0))
        self.coef_path_ = self.coef_[:, None]
        self.support_ = self._support(X, y)
        return self

    def _support(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        support = self.coef_ != 0
        if not support.any():
            nonzero = np.flatnonzero((self.coef_path_ != 0).any(axis=0))
            if nonzero.size:
                support = self.coef_path_[:, nonzero[0]] != 0
            else:
                support = np.zeros(X.shape[1], dtype=bool)
                support[int(np.argmax(np.abs(X.T @ (y - y.mean()))))] = True
            warnings.warn(
                f"LassoSelector: no non-zero coefficient at lambda={self.alpha_:.4g}; "
                f"keeping the {int(support.sum())} feature(s) entering the path first",
                SelectionFallbackWarning, stacklevel=3)
        return support

    def _alpha_grid(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Log-spaced lambdas from the smallest lambda that zeroes every coefficient down."""
        n = X.shape[0]
        Xc = X - X.mean(axis=0)
        alpha_max = float(np.abs(Xc.T @ (y - y.mean())).max() / n)
        if alpha_max <= 0:
            alpha_max = 1.0
        return np.logspace(np.log10(alpha_max), np.log10(alpha_max * 1e-3), self.n_alphas)

    @property
    def selected_coefficients_(self) -> pd.Series:
        """Non-zero coefficients of the kept features, sorted by value (for the bar chart)."""
        check_is_fitted(self, "support_")
        names = _feature_names(self, self.support_.size)
        return pd.Series(self.coef_[self.support_], index=names[self.support_]).sort_values()
