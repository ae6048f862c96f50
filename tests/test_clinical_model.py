"""Clinical model: encoding, uni/multivariable logistic regression, Table 3."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sonomics.config import ModelsConfig
from sonomics.evaluation.metrics import PERFORMANCE_COLUMNS
from sonomics.models.clinical import ClinicalEncoder, clinical_analysis, clinical_model

CONT = ["age", "diameter"]
CAT = ["shape", "margin", "smoking", "echo"]


def _cohort(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(50, 12, n),
        "diameter": rng.normal(25, 8, n),
        "shape": rng.choice(["regular", "irregular"], n, p=[0.7, 0.3]),
        "margin": rng.choice(["well", "poor"], n, p=[0.7, 0.3]),
        "smoking": rng.choice(["no", "yes"], n),
        "echo": rng.choice(["homogeneous", "heterogeneous", "mixed"], n),
    })
    lp = (-2.0 + 1.8 * (df["shape"] == "irregular") + 1.5 * (df["margin"] == "poor")
          + 0.06 * (df["diameter"] - 25))
    y = rng.binomial(1, 1 / (1 + np.exp(-lp.to_numpy())))
    return df, y


def test_encoder_one_hot_with_reference_and_unseen_level_error():
    df, _ = _cohort(20)
    enc = ClinicalEncoder(["age"], ["echo"], reference={"echo": "homogeneous"}).fit(df)
    assert list(enc.get_feature_names_out()) == ["age", "echo_heterogeneous", "echo_mixed"]
    X = enc.transform(df)
    assert X.loc[df["echo"] == "homogeneous", ["echo_heterogeneous", "echo_mixed"]].sum().sum() == 0
    bad = df.copy()
    bad.loc[0, "echo"] = "cystic"
    with pytest.raises(ValueError, match="unseen level\\(s\\) \\['cystic'\\]"):
        enc.transform(bad)
    bad.loc[0, "age"] = np.nan
    with pytest.raises(ValueError, match="'age' has 1 missing"):
        enc.transform(bad)


def test_univariable_or_of_binary_factor_equals_cross_product_ratio():
    df, y = _cohort()
    res = clinical_analysis(df, y, CONT, CAT, reference={"shape": "regular"})
    exposed = (df["shape"] == "irregular").to_numpy()
    a, b = np.sum(exposed & (y == 1)), np.sum(exposed & (y == 0))
    c, d = np.sum(~exposed & (y == 1)), np.sum(~exposed & (y == 0))
    row = res.table.set_index("Variable").loc["shape_irregular"]
    assert row["Univariable OR"] == pytest.approx((a * d) / (b * c), rel=1e-6)


def test_multivariable_retains_true_risk_factors_only():
    df, y = _cohort(n=600)
    res = clinical_analysis(df, y, CONT, CAT, reference={"shape": "regular", "margin": "well"})
    assert {"shape", "margin"} <= set(res.selected_variables)
    assert not {"smoking", "age"} & set(res.selected_variables)
    assert set(res.selected_variables) <= set(res.candidates)
    table = res.table.set_index("Variable")
    assert table.loc["shape_irregular", "Multivariable OR"] > 1
    assert table.loc["shape_irregular", "Retained"]
    # echo's reference is its first sorted level, "heterogeneous"
    assert set(table.index) == {"age", "diameter", "shape_irregular", "margin_poor",
                                "smoking_yes", "echo_homogeneous", "echo_mixed"}


def test_clinical_model_trains_the_classifiers_on_selected_factors():
    df, y = _cohort(n=300)
    test_df, y_test = _cohort(n=120, seed=1)
    cfg = ModelsConfig(classifiers=["LR", "ExtraTrees"], cv_folds=3)
    grids = {"LR": {"C": [1.0]}, "ExtraTrees": {"n_estimators": [20], "max_depth": [3]}}
    analysis, family = clinical_model(df, y, test_df, y_test, continuous=CONT,
                                      categorical=CAT, cfg=cfg, grids=grids,
                                      reference={"shape": "regular", "margin": "well"})
    assert list(family.table.columns) == PERFORMANCE_COLUMNS
    assert len(family.table) == 4
    assert family.table["AUC"].min() > 0.6
    lr = family.models["LR"]
    assert list(lr.feature_names_in_) == analysis.selected_columns


def test_no_retained_factor_is_a_clear_error():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"age": rng.normal(size=80), "smoking": rng.choice(["no", "yes"], 80)})
    y = rng.integers(0, 2, 80)
    with pytest.raises(ValueError, match="models.clinical_p"):
        clinical_model(df, y, continuous=["age"], categorical=["smoking"],
                       cfg=ModelsConfig(clinical_p=1e-9, univariable_p=1e-9))


def test_a_sparse_level_is_kept_finite_and_flagged_not_estimable():
    # as BrEaST-Lesions-USG's tissue_composition 'lactating': 2 training cases, both benign
    df, y = _cohort()
    benign = np.flatnonzero(y == 0)[:2]
    df.loc[benign, "echo"] = "lactating"
    res = clinical_analysis(df, y, CONT, CAT,
                            reference={"echo": "homogeneous", "shape": "regular"})
    row = res.table.set_index("Variable").loc["echo_lactating"]
    assert np.isfinite(row["Univariable OR"]) and row["Univariable OR"] > 0
    assert "sparse level: 2 training case(s), 0 malignant" in row["Note"]
    assert "Firth" in row["Note"]  # quasi-separation: the penalised fit, said so
    ordinary = res.table.set_index("Variable").loc["shape_irregular", "Note"]
    assert "sparse" not in ordinary
    # the same facts as data, for the report (which must not parse the notes' wording)
    assert res.sparse_columns == ["echo_lactating"]
    assert "echo_lactating" in res.firth_columns and "shape_irregular" not in res.firth_columns
