"""Classifier registry, grid search with selection inside CV, and the family runner."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sonomics.config import PAPER_CLASSIFIERS, SelectionConfig
from sonomics.evaluation.metrics import PERFORMANCE_COLUMNS
from sonomics.models.classifiers import (
    CLASSIFIERS,
    _best_median_index,
    fit_classifier,
    make_classifier,
)
from sonomics.models.family import fit_family
from sonomics.selection import build_selection_pipeline

TINY = {
    "LR": {"C": [1.0]},
    "SVM": {"estimator__C": [1.0]},
    "RandomForest": {"n_estimators": [20], "max_depth": [3]},
    "ExtraTrees": {"n_estimators": [20], "max_depth": [3]},
    "XGBoost": {"n_estimators": [20], "max_depth": [2]},
    "LightGBM": {"n_estimators": [20], "num_leaves": [7]},
    "MLP": {"hidden_layer_sizes": [(8,)]},
}


def _data(n: int = 100, p: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    y = (X["f0"] + 0.7 * X["f1"] + rng.normal(scale=0.8, size=n) > 0).astype(int).to_numpy()
    return X, y


def test_registry_holds_the_papers_seven_classifiers_with_grids():
    assert list(CLASSIFIERS) == PAPER_CLASSIFIERS
    for name, spec in CLASSIFIERS.items():
        est = make_classifier(name, random_state=7)
        assert hasattr(est, "predict_proba") and spec.grid
        for key in spec.grid:
            assert key in est.get_params()
    with pytest.raises(ValueError, match="unknown name 'Bogus'"):
        make_classifier("Bogus")


def test_refit_uses_median_fold_auc():
    cv_results = {
        "split0_test_score": np.array([0.9, 0.7]),
        "split1_test_score": np.array([0.5, 0.71]),
        "split2_test_score": np.array([0.5, 0.72]),
        "mean_test_score": np.array([0.633, 0.71]),
    }
    assert _best_median_index(cv_results) == 1


@pytest.mark.parametrize("name", PAPER_CLASSIFIERS)
def test_each_classifier_learns_and_is_reproducible(name):
    X, y = _data()
    a = fit_classifier(name, X, y, grid=TINY[name], cv_folds=3, random_state=1)
    b = fit_classifier(name, X, y, grid=TINY[name], cv_folds=3, random_state=1)
    assert a.cv_auc_ > 0.7
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_family_table_best_by_training_cv_auc_and_oof_scores():
    X, y = _data(n=120, p=12)
    Xt, yt = _data(n=60, p=12, seed=1)
    names = ["LR", "RandomForest", "LightGBM"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_family(X, y, Xt, yt, family="Radiomics",
                         selection=build_selection_pipeline(SelectionConfig(lasso_folds=3)),
                         classifiers=names, grids=TINY, cv_folds=3, random_state=0)
    assert list(res.table.columns) == PERFORMANCE_COLUMNS
    assert list(res.table["Model"]) == [f"{n}-{s}" for n in names
                                        for s in ("training (apparent)", "testing")]
    assert res.best == max(res.cv_auc, key=res.cv_auc.get)
    assert res.oof_proba.shape == (120,) and np.all((res.oof_proba >= 0) & (res.oof_proba <= 1))
    assert set(res.cv_table["Classifier"]) == set(names)
    # the fitted model carries its own selection, fitted on training data only
    selected = res.models["LR"].named_steps["select"].get_feature_names_out()
    assert "f0" in selected
    assert res.test_proba["LR"].shape == (60,)


def test_out_of_fold_scores_reuse_the_grid_searchs_fold_fits_without_changing_them():
    """The OOF pass reuses the selection chains fitted on the grid search's folds (same
    folds, cache still open): its scores equal a fresh, uncached cross_val_predict."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    from sonomics.data.splits import training_folds

    X, y = _data(n=120, p=12)
    groups = np.repeat(np.arange(60), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_family(X, y, family="Radiomics",
                         selection=build_selection_pipeline(SelectionConfig(lasso_folds=3)),
                         classifiers=["LR"], grids=TINY, cv_folds=3, random_state=0,
                         groups=groups)
        fresh = clone(res.models["LR"]).set_params(memory=None)
        expected = cross_val_predict(fresh, X, y, cv=training_folds(3, groups, 0),
                                     groups=groups, method="predict_proba",
                                     params={"select__lasso__groups": groups})[:, 1]
    np.testing.assert_array_equal(res.oof_proba, expected)
    assert res.models["LR"].memory is None  # the stored model keeps no temporary cache
