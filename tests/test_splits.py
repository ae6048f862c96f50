"""Splits: stratified, patient-grouped, deterministic, or taken from the manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sonomics.config import SplitConfig
from sonomics.data.splits import SplitError, make_split


def cohort_table(n_patients=200, images_per_patient=None, malignant_rate=0.2, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        label = int(rng.random() < malignant_rate)
        k = images_per_patient(rng) if images_per_patient else 1
        for j in range(k):
            rows.append({"case_id": f"P{p}_{j}", "patient_id": f"P{p}", "label": label})
    return pd.DataFrame(rows).set_index("case_id")


def test_stratified_seven_three_within_one_case():
    table = cohort_table(526, malignant_rate=99 / 526)
    split = make_split(table, SplitConfig())
    test = table[split == "test"]
    assert abs(len(test) - round(0.3 * 526)) <= 1
    expected = 0.3 * table["label"].sum()
    assert abs(test["label"].sum() - expected) <= 1


def test_grouped_by_patient():
    table = cohort_table(300, images_per_patient=lambda r: int(r.integers(1, 4)))
    split = make_split(table, SplitConfig(seed=3))
    sides = split.groupby(table["patient_id"]).nunique()
    assert (sides == 1).all()
    assert 0.2 < (split == "test").mean() < 0.4


def test_deterministic_for_a_seed_and_different_across_seeds():
    table = cohort_table(200)
    a = make_split(table, SplitConfig(seed=7))
    b = make_split(table, SplitConfig(seed=7))
    c = make_split(table, SplitConfig(seed=8))
    assert a.equals(b) and not a.equals(c)


def test_manifest_split_column_is_used():
    table = cohort_table(20)
    table["split"] = ["train"] * 14 + ["test"] * 4 + ["external"] * 2
    split = make_split(table, SplitConfig())
    assert split.tolist() == table["split"].tolist()


def test_manifest_split_must_keep_patients_together():
    table = cohort_table(10, images_per_patient=lambda r: 2)
    table["split"] = ["train", "test"] * 10
    with pytest.raises(SplitError, match="both sides"):
        make_split(table, SplitConfig())


def test_too_few_cases_is_a_clear_error():
    table = cohort_table(5, malignant_rate=0.0)
    table.iloc[0, table.columns.get_loc("label")] = 1
    with pytest.raises(SplitError, match="too few patients per class"):
        make_split(table, SplitConfig())
