"""Baseline statistics: the right test is chosen and its p-value equals scipy's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sonomics.evaluation.baseline import compare_categorical, compare_continuous, table1, table2


def test_normal_equal_variance_uses_students_t():
    rng = np.random.default_rng(0)
    a, b = rng.normal(50, 10, 80), rng.normal(53, 10, 70)
    result, normal = compare_continuous([a, b])
    assert normal and result.test == "t-test"
    assert result.p == pytest.approx(stats.ttest_ind(a, b).pvalue, rel=1e-12)


def test_normal_unequal_variance_uses_welch():
    rng = np.random.default_rng(1)
    a, b = rng.normal(50, 3, 80), rng.normal(52, 15, 80)
    result, normal = compare_continuous([a, b])
    assert normal and result.test == "Welch t-test"
    assert result.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)


def test_skewed_uses_mann_whitney():
    rng = np.random.default_rng(2)
    a, b = rng.exponential(1, 100), rng.exponential(1.5, 100)
    result, normal = compare_continuous([a, b])
    assert not normal and result.test == "Mann-Whitney U"
    expected = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    assert result.p == pytest.approx(expected, rel=1e-12)


def test_chi_square_with_yates_on_2x2():
    table = np.array([[120, 80], [60, 70]])
    result = compare_categorical(table)
    assert result.test == "χ²"
    assert result.p == pytest.approx(stats.chi2_contingency(table, correction=True).pvalue)


def test_fisher_when_an_expected_count_is_small():
    table = np.array([[8, 2], [1, 5]])
    result = compare_categorical(table)
    assert result.test == "Fisher exact"
    assert result.p == pytest.approx(stats.fisher_exact(table).pvalue)


def test_table2_layout_and_missing_row():
    frame = pd.DataFrame({
        "label": [0, 1] * 20,
        "age": list(np.linspace(20, 80, 39)) + [np.nan],
        "shape": ["regular", "irregular", "regular", "regular"] * 10,
    })
    groups = pd.Series(["train"] * 28 + ["test"] * 12)
    t2 = table2(frame, groups, ["train", "test"], ["age"], ["shape"])
    assert list(t2.columns) == ["Variable", "Level", "All (n=40)", "train (n=28)",
                                "test (n=12)", "P", "Test"]
    assert (t2["Level"] == "missing").sum() == 1
    # percentages to one decimal
    assert t2.loc[t2["Level"] == "regular", "All (n=40)"].item() == "30 (75.0)"


def test_table1_counts_by_subtype():
    frame = pd.DataFrame({"label": [0, 0, 0, 1], "subtype": ["PA", "PA", "Warthin", "MEC"]})
    t1 = table1(frame)
    assert t1.loc[(t1["Class"] == "Benign") & (t1["Subtype"] == "PA"), "Number"].item() == 2
    assert t1.loc[(t1["Class"] == "Malignant") & (t1["Subtype"] == "All"), "Number"].item() == 1


def test_table1_percentages_carry_one_decimal():
    frame = pd.DataFrame({"label": [0, 0, 0, 1, 1, 0], "subtype": ["PA"] * 3 + ["MEC"] * 2
                          + ["Warthin"]})
    percents = table1(frame)["Percent"].astype(str)
    assert percents.str.fullmatch(r"\d+\.\d").all(), percents.tolist()
    assert "66.7" in set(percents)  # 4 of 6 benign, not 66.667
