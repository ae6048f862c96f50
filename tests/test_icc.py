"""ICC: vectorised forms, psych layout, constant and perfect-agreement features."""

from __future__ import annotations

import numpy as np
import pytest

from sonomics.evaluation.icc import ICC_FORMS, icc_features, icc_forms_table, icc_vectorised


def _ratings(n: int = 30, n_feat: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1, size=(n, 1, n_feat))
    noise = rng.normal(0, 1, size=(n, 2, n_feat)) * np.linspace(0.1, 2, n_feat)
    return truth + noise


def test_vectorised_equals_one_feature_at_a_time():
    arr = _ratings()
    for form in ICC_FORMS:
        icc, lo, up = icc_vectorised(arr, form)
        for j in range(arr.shape[2]):
            one = icc_vectorised(arr[:, :, j], form)
            np.testing.assert_allclose([icc[j], lo[j], up[j]], [v[0] for v in one], rtol=1e-12)


def test_icc_decreases_with_reader_noise_and_bounds_bracket_estimate():
    icc, lo, up = icc_vectorised(_ratings(n=200), "ICC2")
    assert np.all(np.diff(icc) < 0)
    assert np.all((lo <= icc) & (icc <= up))


def test_icc3_matches_closed_form_for_consistency():
    arr = _ratings(n=50, n_feat=1)[:, :, 0]
    n, k = arr.shape
    resid = arr - arr.mean(1, keepdims=True) - arr.mean(0, keepdims=True) + arr.mean()
    msb = k * ((arr.mean(1) - arr.mean()) ** 2).sum() / (n - 1)
    mse = (resid**2).sum() / ((n - 1) * (k - 1))
    expected = (msb - mse) / (msb + (k - 1) * mse)
    assert icc_vectorised(arr, "ICC3")[0][0] == pytest.approx(expected, rel=1e-12)


def test_constant_feature_gives_nan_not_an_error():
    arr = _ratings(n_feat=3)
    arr[:, :, 1] = 7.0
    icc, lo, up = icc_vectorised(arr, "ICC2")
    assert np.isnan(icc[1]) and np.isnan(lo[1]) and np.isnan(up[1])
    assert np.isfinite(icc[[0, 2]]).all()


def test_perfect_agreement_gives_one():
    x = np.arange(10.0)
    arr = np.stack([x, x], axis=1)
    for form in ICC_FORMS:
        icc, lo, up = icc_vectorised(arr, form)
        assert (icc[0], lo[0], up[0]) == (1.0, 1.0, 1.0)


def test_table_has_psych_layout():
    table = icc_forms_table(_ratings(n_feat=1)[:, :, 0])
    assert list(table["type"]) == list(ICC_FORMS)
    assert list(table.columns) == ["type", "description", "ICC", "F", "df1", "df2", "p",
                                   "lower bound", "upper bound"]
    assert table.loc[0, "df2"] == 30.0 and table.loc[1, "df2"] == 29.0


def test_feature_table_names_and_errors():
    arr = _ratings(n_feat=2)
    table = icc_features(arr, ["a", "b"])
    assert list(table["feature"]) == ["a", "b"]
    with pytest.raises(ValueError, match="form"):
        icc_vectorised(arr, "ICC4")
    with pytest.raises(ValueError, match="NaN"):
        icc_vectorised(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="feature_names"):
        icc_features(arr, ["a"])
