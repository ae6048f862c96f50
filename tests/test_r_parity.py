"""Parity with R gold standards (pROC, psych, hoslem.test algorithm), each within 1e-6.

Fixtures in ``tests/fixtures/r-gold`` were made by ``make_reference.R`` (copied beside them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sonomics.evaluation.calibration import hosmer_lemeshow
from sonomics.evaluation.delong import auc_delong, delong_test
from sonomics.evaluation.icc import ICC_FORMS, icc_vectorised
from sonomics.evaluation.metrics import youden_point
from sonomics.evaluation.validation import val_prob

GOLD = Path(__file__).parent / "fixtures" / "r-gold"
TOL = 1e-6


@pytest.fixture(scope="module")
def roc():
    return pd.read_csv(GOLD / "roc_scores.csv"), pd.read_csv(GOLD / "roc_expected.csv")


@pytest.mark.parametrize("set_id", [1, 2, 3, 4, 5])
def test_auc_delong_ci_and_paired_test_equal_proc(roc, set_id):
    scores, expected = roc
    d = scores[scores["set"] == set_id]
    e = expected[expected["set"] == set_id].iloc[0]
    for col in ("a", "b"):
        auc, lo, up = auc_delong(d["y"], d[col])
        assert auc == pytest.approx(e[f"auc_{col}"], abs=TOL)
        assert lo == pytest.approx(e[f"ci_low_{col}"], abs=TOL)
        assert up == pytest.approx(e[f"ci_high_{col}"], abs=TOL)
    test = delong_test(d["y"], d["a"], d["b"])
    assert test.z == pytest.approx(e["delong_z"], abs=TOL)
    assert test.p == pytest.approx(e["delong_p"], abs=TOL)


@pytest.mark.parametrize("set_id", [1, 2, 3, 4, 5])
def test_youden_point_equals_proc_coords_best(roc, set_id):
    scores, expected = roc
    d = scores[scores["set"] == set_id]
    e = expected[expected["set"] == set_id].iloc[0]
    threshold, sens, spec = youden_point(d["y"], d["a"])
    assert threshold == pytest.approx(e["youden_threshold_a"], abs=TOL)
    assert sens == pytest.approx(e["youden_sens_a"], abs=TOL)
    assert spec == pytest.approx(e["youden_spec_a"], abs=TOL)


@pytest.mark.parametrize("form", ICC_FORMS)
def test_icc_equals_psych(form):
    ratings = pd.read_csv(GOLD / "icc_ratings.csv")
    expected = pd.read_csv(GOLD / "icc_expected.csv")
    feats = sorted(ratings["feature"].unique())
    arr = np.stack([ratings[ratings["feature"] == f].sort_values("subject")[
        ["reader1", "reader2"]].to_numpy() for f in feats], axis=2)
    icc, lo, up = icc_vectorised(arr, form)
    e = expected[expected["type"] == form].set_index("feature").loc[feats]
    np.testing.assert_allclose(icc, e["icc"], atol=TOL, rtol=0)
    np.testing.assert_allclose(lo, e["lower"], atol=TOL, rtol=0)
    np.testing.assert_allclose(up, e["upper"], atol=TOL, rtol=0)


@pytest.mark.parametrize("set_id", [1, 2, 3])
def test_hosmer_lemeshow_equals_r(set_id):
    data = pd.read_csv(GOLD / "hosmer_lemeshow_input.csv")
    e = pd.read_csv(GOLD / "hosmer_lemeshow_expected.csv").set_index("set").loc[set_id]
    d = data[data["set"] == set_id]
    res = hosmer_lemeshow(d["y"], d["p"], groups=10)
    assert res.statistic == pytest.approx(e["statistic"], abs=TOL)
    assert res.df == e["df"]
    assert res.p == pytest.approx(e["p_value"], abs=TOL)


@pytest.mark.parametrize("set_id", [1, 2, 3, 4, 5])
def test_val_prob_equals_rms(set_id):
    """Five miscalibration patterns (shifted intercept, slopes 0.6-1.6) against
    rms::val.prob: intercept, slope, Brier, C, Emax, Eavg to 1e-6."""
    data = pd.read_csv(GOLD / "calibration_input.csv").query("set == @set_id")
    e = pd.read_csv(GOLD / "calibration_expected.csv").set_index("set").loc[set_id]
    res = val_prob(data["y"], data["p"])
    assert res["n"] == e["n"]
    for ours, theirs in (("intercept", "intercept"), ("slope", "slope"), ("brier", "brier"),
                         ("c_index", "c_index"), ("emax", "emax"), ("eavg", "eavg")):
        assert res[ours] == pytest.approx(e[theirs], abs=1e-6), ours
    assert abs(res["auc"] - res["c_index"]) < 1e-4  # exact vs rms 6.x's binned pairs


def test_calibration_in_the_large_solves_its_score_equation_and_finds_the_shift():
    """CITL (slope fixed at 1) is the a with sum(y - expit(a + logit p)) = 0; on outcomes
    drawn with a known intercept shift it recovers the shift and the slope stays ~1."""
    from scipy.optimize import brentq
    from scipy.special import expit, logit

    from sonomics.evaluation.validation import calibration_with_ci

    rng = np.random.default_rng(5)
    p = expit(rng.normal(-0.5, 1.3, 4000))
    y = rng.binomial(1, expit(0.7 + logit(p)))
    res = calibration_with_ci(y, p)
    root = brentq(lambda a: float(np.sum(y - expit(a + logit(p)))), -5, 5, xtol=1e-12)
    assert res["citl"] == pytest.approx(root, abs=1e-8)
    assert res["citl_low"] < 0.7 < res["citl_high"]
    assert res["slope_low"] < 1.0 < res["slope_high"]


def test_calibration_of_separating_probabilities_is_refused_in_one_line():
    """Probabilities that separate the classes have no finite calibration slope: a clear
    error (the table shows 'not computable'), never a huge number with a warning."""
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.validation import calibration_with_ci

    y = np.array([0] * 20 + [1] * 20)
    p = np.r_[np.linspace(0.05, 0.45, 20), np.linspace(0.55, 0.95, 20)]
    with pytest.raises(DegenerateInputError, match="separate the classes"):
        val_prob(y, p)
    with pytest.raises(DegenerateInputError, match="separate the classes"):
        calibration_with_ci(y, p)
