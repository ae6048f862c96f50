"""Selection chain: estimator contract, each rule's behaviour, the pipeline from the config."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import check_estimator

from sonomics.config import SelectionConfig
from sonomics.selection import (
    CorrelationFilter,
    GreedyElimination,
    ICCFilter,
    LassoSelector,
    SelectionFallbackWarning,
    TTestSelector,
    build_selection_pipeline,
    selected_features,
    univariate_pvalues,
)


def _frame(n: int = 120, n_noise: int = 20, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Two informative features, a near-copy of the first, and noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    sig1 = rng.normal(size=n) + 1.5 * y
    sig2 = rng.normal(size=n) - 1.0 * y
    copy1 = sig1 + rng.normal(scale=0.05, size=n)
    noise = rng.normal(size=(n, n_noise))
    X = pd.DataFrame(np.column_stack([sig1, sig2, copy1, noise]),
                     columns=["sig1", "sig2", "copy1"] + [f"noise{i}" for i in range(n_noise)])
    return X, y


@pytest.mark.parametrize("estimator", [
    ICCFilter(), TTestSelector(), CorrelationFilter(),
    GreedyElimination(max_features=2, mean_r=0.0), LassoSelector(cv=3, n_alphas=20),
    LassoSelector(alpha=0.05),
], ids=lambda e: type(e).__name__ + ("-fixed" if getattr(e, "alpha", None) else ""))
def test_selectors_pass_sklearn_check_estimator(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(estimator)


def test_icc_filter_keeps_reproducible_and_unknown_features():
    X, y = _frame(n_noise=2)
    table = pd.DataFrame({"feature": ["sig1", "sig2", "copy1", "noise0"],
                          "icc": [0.95, 0.5, np.nan, 0.85]})
    kept = ICCFilter(table, threshold=0.85).fit(X, y).selected_features_
    assert kept == ["sig1", "noise0", "noise1"]  # noise1 has no ICC -> kept
    strict = ICCFilter(table, threshold=0.85, missing="drop").fit(X, y).selected_features_
    assert strict == ["sig1", "noise0"]
    with pytest.raises(ValueError, match="no feature reaches"):
        ICCFilter(table, threshold=0.99, missing="drop").fit(X, y)


def test_ttest_keeps_informative_features_and_mannwhitney_agrees():
    X, y = _frame()
    welch = TTestSelector().fit(X, y)
    assert {"sig1", "sig2", "copy1"} <= set(welch.selected_features_)
    mw = TTestSelector(test="mannwhitney").fit(X, y)
    assert {"sig1", "sig2", "copy1"} <= set(mw.selected_features_)
    assert welch.pvalues_.shape == (X.shape[1],)


def test_welch_pvalues_equal_scipy():
    from scipy import stats

    X, y = _frame(n_noise=3)
    p = univariate_pvalues(X.to_numpy(), y, "welch")
    ref = [stats.ttest_ind(X.iloc[y == 1, j], X.iloc[y == 0, j], equal_var=False).pvalue
           for j in range(X.shape[1])]
    np.testing.assert_allclose(p, ref, rtol=1e-12)


def test_ttest_falls_back_with_a_warning_instead_of_keeping_nothing():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    y = np.repeat([0, 1], 20)
    X[:, 3] += 1e-9 * y  # p-values all large; feature 3 still gets ranked
    sel = TTestSelector(p_threshold=1e-12, min_features=2)
    with pytest.warns(SelectionFallbackWarning, match="keeping the 2"):
        sel.fit(X, y)
    assert sel.support_.sum() == 2
    assert set(np.flatnonzero(sel.support_)) == set(np.argsort(sel.pvalues_)[:2])


def test_correlation_filter_keeps_smaller_p_of_correlated_pair():
    X, y = _frame()
    sel = CorrelationFilter(threshold=0.9).fit(X, y)
    kept = sel.selected_features_
    better = "sig1" if sel.pvalues_[0] < sel.pvalues_[2] else "copy1"
    worse = {"sig1", "copy1"} - {better}
    assert better in kept and not worse & set(kept)
    r = X[kept].corr().abs().to_numpy()
    np.fill_diagonal(r, 0)
    assert r.max() <= 0.9


def test_greedy_elimination_drops_most_redundant_first_and_stops():
    rng = np.random.default_rng(2)
    base = rng.normal(size=200)
    X = np.column_stack([base + rng.normal(scale=s, size=200) for s in (0.1, 0.2, 0.3)]
                        + [rng.normal(size=200) for _ in range(3)])
    sel = GreedyElimination(max_features=2, mean_r=0.3).fit(X)
    assert sel.elimination_order_[0] in (0, 1, 2)
    assert set(sel.elimination_order_) <= {0, 1, 2}  # stops once the set is decorrelated
    assert sel.support_.sum() >= 2
    capped = GreedyElimination(max_features=5, mean_r=0.0).fit(X)
    assert capped.support_.sum() == 5


def test_lasso_cv_on_threads_selects_exactly_what_one_thread_selects():
    X, y = _frame(n=200)
    one = LassoSelector(cv=5, n_alphas=30, random_state=0, n_jobs=1).fit(X, y)
    two = LassoSelector(cv=5, n_alphas=30, random_state=0, n_jobs=2).fit(X, y)
    assert one.alpha_ == two.alpha_
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.mse_path_, two.mse_path_)


def test_lasso_keeps_signal_and_exposes_path_for_figures():
    X, y = _frame(n=200)
    sel = LassoSelector(cv=5, n_alphas=30, random_state=0).fit(X, y)
    assert {"sig1", "sig2"} & set(sel.selected_features_)
    assert sel.coef_path_.shape == (X.shape[1], 30)
    assert sel.mse_path_.shape == (30, 5)
    assert sel.alpha_ == sel.alphas_[np.argmin(sel.mse_path_.mean(axis=1))]
    chosen = int(np.argmin(np.abs(sel.alphas_ - sel.alpha_)))
    np.testing.assert_allclose(sel.coef_path_[:, chosen], sel.coef_, atol=1e-4)
    coefs = sel.selected_coefficients_
    assert (coefs != 0).all() and list(coefs.index) == sorted(coefs.index, key=coefs.get)


def test_lasso_never_returns_zero_features():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    y = np.repeat([0, 1], 15)  # unrelated to X: CV picks the all-zero lambda
    sel = LassoSelector(cv=3, n_alphas=5, random_state=0)
    with pytest.warns(SelectionFallbackWarning, match="entering the path first"):
        sel.fit(X, y)
    assert not (sel.coef_ != 0).any()
    assert sel.support_.sum() >= 1
    first_in = np.argmax(np.abs((X - X.mean(0)).T @ (y - y.mean())))
    assert sel.support_[first_in]


def test_pipeline_from_config_selects_signal_and_returns_named_frame():
    X, y = _frame(n=160, n_noise=30)
    table = pd.DataFrame({"feature": X.columns, "icc": 0.9})
    table.loc[table["feature"] == "sig2", "icc"] = 0.2
    cfg = SelectionConfig(lasso_folds=5)
    pipe = build_selection_pipeline(cfg, icc_table=table, random_state=0)
    out = pipe.fit_transform(X, y)
    assert isinstance(out, pd.DataFrame)
    names = selected_features(pipe)
    assert list(out.columns) == names
    assert "sig2" not in names  # removed by the ICC filter
    assert {"sig1", "copy1"} & set(names) and not {"sig1", "copy1"} <= set(names)


def test_pipeline_uses_configured_settings():
    cfg = SelectionConfig(univariate_test="mannwhitney", p_threshold=0.01, corr_threshold=0.8,
                          greedy_max_features=10, greedy_mean_r=0.4, lasso_folds=4)
    pipe = build_selection_pipeline(cfg)
    steps = pipe.named_steps
    assert steps["univariate"].test == "mannwhitney" and steps["univariate"].p_threshold == 0.01
    assert steps["correlation"].threshold == 0.8
    assert steps["greedy"].max_features == 10 and steps["greedy"].mean_r == 0.4
    assert steps["lasso"].cv == 4


def test_lasso_figures_render(tmp_path):
    from sonomics.evaluation.plots import lasso_coef_figure, lasso_cv_figure, lasso_path_figure

    X, y = _frame(n=100, n_noise=5)
    sel = LassoSelector(cv=3, n_alphas=15, random_state=0).fit(X, y)
    for fn, name in ((lasso_path_figure, "path.png"), (lasso_cv_figure, "cv.png"),
                     (lasso_coef_figure, "coef.png")):
        fn(sel, path=tmp_path / name)
        assert (tmp_path / name).stat().st_size > 1000


def test_lasso_at_a_fixed_lambda_equals_the_cv_fit_at_that_lambda():
    X, y = _frame(n=160, n_noise=30)
    Z = (X - X.mean()) / X.std(ddof=0)
    cv = LassoSelector(cv=5, random_state=0).fit(Z, y)
    fixed = LassoSelector(alpha=cv.alpha_).fit(Z, y)
    np.testing.assert_allclose(fixed.coef_, cv.coef_, atol=1e-6)
    assert (fixed.support_ == cv.support_).all()


def test_selection_frequency_separates_robust_features_from_luck():
    from sonomics.selection.stability import selection_frequency, stability_table

    X, y = _frame(n=200, n_noise=40, seed=3)
    groups = np.repeat(np.arange(100), 2)  # two rows per patient: resampled together
    pipe = build_selection_pipeline(SelectionConfig(lasso_folds=5), random_state=0)
    pipe.fit(X, y)
    freq = selection_frequency(pipe, X, y, groups, resamples=30, random_state=1)
    assert freq.attrs["resamples"] == 30
    assert freq.max() <= 1 and freq.min() > 0
    assert freq.get("sig2", 0) >= 0.9  # a strong, unique signal: selected every time
    assert max(freq.get("sig1", 0), freq.get("copy1", 0)) >= 0.5  # one of a redundant pair
    noise = freq[freq.index.str.startswith("noise")]
    assert noise.empty or noise.median() < 0.5
    table = stability_table(freq, selected_features(pipe))
    assert table["selected in the model"].iloc[: len(selected_features(pipe))].all()
    assert table["selection frequency"].between(0, 1).all()
    again = selection_frequency(pipe, X, y, groups, resamples=30, random_state=1)
    pd.testing.assert_series_equal(freq, again)  # seeded
