"""Evaluation statistics: conventions, edge cases and equality with dcurves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sonomics.evaluation.calibration import calibration_curve, hosmer_lemeshow
from sonomics.evaluation.dca import decision_curves, net_benefit
from sonomics.evaluation.delong import auc_delong, delong_matrix, delong_test
from sonomics.evaluation.metrics import (
    PERFORMANCE_COLUMNS,
    DegenerateInputError,
    binary_metrics,
    performance_rows,
    youden_point,
    youden_threshold,
)


def _data(n: int = 120, shift: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = rng.normal(size=n) + shift * y
    b = 0.5 * a + rng.normal(size=n)
    return y, a, b


def _brute_force_delong(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    return psi.mean(), v10.var(ddof=1) / pos.size + v01.var(ddof=1) / neg.size


def test_delong_variance_equals_pairwise_definition_with_ties():
    y, a, _ = _data()
    a = np.round(a, 0)
    auc, lo, up = auc_delong(y, a)
    ref_auc, ref_var = _brute_force_delong(y, a)
    assert auc == pytest.approx(ref_auc, abs=1e-12)
    assert (up - lo) / 2 == pytest.approx(1.959963984540054 * np.sqrt(ref_var), abs=1e-12)


def test_delong_direction_higher_score_is_malignant():
    y, a, _ = _data()
    auc, lo, up = auc_delong(y, a)
    auc_r, lo_r, up_r = auc_delong(y, -a)
    assert auc > 0.5 and auc_r == pytest.approx(1 - auc)
    assert up - lo == pytest.approx(up_r - lo_r)


def test_paired_test_sign_and_symmetry():
    y, a, b = _data()
    ab, ba = delong_test(y, a, b), delong_test(y, b, a)
    assert ab.auc_a > ab.auc_b and ab.z > 0
    assert ba.z == pytest.approx(-ab.z) and ba.p == pytest.approx(ab.p)


def test_paired_test_identical_scores_gives_p_one():
    y, a, _ = _data()
    res = delong_test(y, a, a.copy())
    assert (res.z, res.p) == (0.0, 1.0)


def test_perfect_separation_gives_auc_one_with_zero_width_ci():
    y = np.array([0, 0, 0, 1, 1, 1])
    assert auc_delong(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]) == (1.0, 1.0, 1.0)


def test_single_case_of_a_class_is_a_clear_error_not_nan():
    with pytest.raises(DegenerateInputError, match="at least 2"):
        auc_delong([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9])


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], "each class"),
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], "constant"),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4], "NaN"),
        ([0, 2, 0, 1], [0.1, 0.2, 0.3, 0.4], "0 \\(benign\\)"),
        ([0, 1, 0], [0.1, 0.2, 0.3, 0.4], "3 labels but 4 scores"),
    ],
)
def test_degenerate_inputs_raise(y, s, match):
    with pytest.raises(DegenerateInputError, match=match):
        performance_rows("M", y, s)


def test_youden_ties_return_lowest_threshold_and_midpoints():
    # thresholds 1.5 and 3.5 both give J = 0.5; pROC returns the first (lowest)
    y = np.array([0, 1, 0, 1])
    s = np.array([1.0, 2.0, 3.0, 4.0])
    threshold, sens, spec = youden_point(y, s)
    assert (threshold, sens, spec) == (1.5, 1.0, 0.5)


def test_binary_metrics_call_score_at_threshold_positive():
    y = [0, 0, 1, 1]
    m = binary_metrics(y, [0.2, 0.5, 0.5, 0.9], threshold=0.5)
    assert m == {"accuracy": 0.75, "sensitivity": 1.0, "specificity": 0.5,
                 "ppv": 2 / 3, "npv": 1.0}
    none_positive = binary_metrics(y, [0.1, 0.1, 0.1, 0.1], threshold=0.5)
    assert none_positive["ppv"] == 0.0 and none_positive["sensitivity"] == 0.0


def test_performance_rows_use_training_cutoff_on_test():
    y, a, _ = _data(seed=1)
    yt, at, _ = _data(seed=2)
    table = performance_rows("LR", y, a, yt, at)
    assert list(table.columns) == PERFORMANCE_COLUMNS
    assert list(table["Model"]) == ["LR-training", "LR-testing"]
    cut = youden_threshold(y, a)
    assert table.attrs["threshold"] == cut
    expected = binary_metrics(yt, at, cut)
    assert table.loc[1, "Sensitivity"] == expected["sensitivity"]
    assert table.loc[1, "Specificity"] == expected["specificity"]
    assert not table.isna().any().any()
    lo, up = (float(v) for v in table.loc[0, "95% CI"].split(" - "))
    assert lo < table.loc[0, "AUC"] < up


def test_delong_matrix_is_symmetric_with_unit_diagonal():
    y, a, b = _data()
    mat = delong_matrix(y, {"a": a, "b": b, "c": a + b})
    assert np.allclose(mat.to_numpy(), mat.to_numpy().T)
    assert np.all(np.diag(mat.to_numpy()) == 1.0)


def test_net_benefit_equals_dcurves():
    dcurves = pytest.importorskip("dcurves")
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.99, 200)
    y = rng.binomial(1, p)
    p[:10] = 0.3  # ties exactly at a threshold: both use prob >= threshold
    thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
    ref = dcurves.dca(data=pd.DataFrame({"y": y, "p": p}), outcome="y", modelnames=["p"],
                      thresholds=thresholds)
    ours = net_benefit(y, p, thresholds)
    for model, col in (("p", "model"), ("all", "all"), ("none", "none")):
        expected = ref[ref["model"] == model].sort_values("threshold")["net_benefit"]
        np.testing.assert_allclose(ours[col], expected, atol=1e-12)
    both = decision_curves(y, {"m1": p, "m2": 1 - p}, thresholds)
    assert list(both.columns) == ["threshold", "all", "none", "m1", "m2"]


def test_hosmer_lemeshow_df_counts_groups_actually_formed():
    rng = np.random.default_rng(4)
    p = np.repeat([0.1, 0.3, 0.5, 0.7, 0.9], 40)  # 5 distinct values -> < 10 groups
    y = rng.binomial(1, p)
    res = hosmer_lemeshow(y, p, groups=10)
    assert res.groups == len(res.table) < 10
    assert res.df == res.groups - 2
    assert res.table["n"].sum() == p.size


def test_calibration_curve_quantile_bins():
    rng = np.random.default_rng(5)
    p = rng.uniform(size=500)
    y = rng.binomial(1, p)
    curve = calibration_curve(y, p, bins=10)
    assert len(curve) == 10 and curve["n"].sum() == 500
    assert np.all(np.diff(curve["mean_predicted"]) > 0)
    assert np.abs(curve["observed"] - curve["mean_predicted"]).max() < 0.2
    with pytest.raises(DegenerateInputError, match="\\[0, 1\\]"):
        calibration_curve([0, 1], [0.5, 1.5])


def test_figures_render_to_png(tmp_path):
    from sonomics.evaluation.plots import (
        calibration_figure,
        decision_curve_figure,
        delong_heatmap,
        roc_figure,
    )

    rng = np.random.default_rng(6)
    p = rng.uniform(0.02, 0.98, 150)
    y = rng.binomial(1, p)
    q = np.clip(p + rng.normal(scale=0.2, size=150), 0.01, 0.99)
    curves = {"A": (y, p), "B": (y, q)}
    figs = {
        "roc.png": roc_figure(curves, path=tmp_path / "roc.png"),
        "cal.png": calibration_figure(curves, path=tmp_path / "cal.png"),
        "dca.png": decision_curve_figure(curves, path=tmp_path / "dca.png"),
        "delong.png": delong_heatmap(delong_matrix(y, {"A": p, "B": q}),
                                     path=tmp_path / "delong.png"),
    }
    for name in figs:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    legend = [t.get_text() for t in figs["roc.png"].axes[0].get_legend().get_texts()]
    assert legend[0].startswith("A AUC ")


def test_the_cut_off_comes_from_out_of_fold_scores_and_both_training_rows_are_labelled():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 80)
    apparent = y + rng.normal(scale=0.01, size=80)  # a memorised training set: AUC 1.000
    oof = y * 0.6 + rng.normal(size=80)  # what cross-validation says
    table = performance_rows("ET", y, apparent, y[:20], oof[:20], s_train_oof=oof)
    assert list(table["Model"]) == ["ET-training (apparent)", "ET-training (out-of-fold)",
                                    "ET-testing"]
    assert table.attrs["threshold"] == youden_threshold(y, oof)
    assert table.loc[0, "AUC"] == 1.0 and table.loc[1, "AUC"] < 0.9
    lone = performance_rows("CNN", y, apparent, label_apparent=True)
    assert list(lone["Model"]) == ["CNN-training (apparent)"]


def test_pairwise_delong_tests_carry_holm_adjusted_p_values():
    from statsmodels.stats.multitest import multipletests

    from sonomics.evaluation.delong import delong_pairs

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    scores = {m: y * w + rng.normal(size=120) for m, w in zip("ABCD", (0.2, 0.8, 1.2, 2.0),
                                                              strict=True)}
    pairs = delong_pairs(y, scores)
    assert len(pairs) == 6
    np.testing.assert_allclose(pairs["P (Holm)"], multipletests(pairs["P"], method="holm")[1])
    assert (pairs["P (Holm)"] >= pairs["P"]).all()


def test_p_values_read_as_a_reader_expects_in_tables_and_the_calibration_legend():
    from sonomics.evaluation.metrics import format_p
    from sonomics.evaluation.plots import calibration_figure

    assert format_p(0.0004) == "< 0.001" and format_p(0.0) == "< 0.001"
    assert format_p(0.0123) == "0.012" and format_p(1.0) == "1.000"
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 100)
    badly_calibrated = np.clip(0.5 + 0.05 * rng.normal(size=200), 0.01, 0.99)  # all ~0.5
    fig = calibration_figure({"M": (y, np.where(y == 1, 0.95, badly_calibrated))})
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "M (HL p < 0.001)" in labels, labels
