"""Every split inside the training set is grouped by patient and near-duplicate group.

A permutation test: 120 patients with 2-3 near-identical images each and labels drawn at
random per patient. Nothing can be learned, so an honest cross-validated AUC is about 0.5;
folds of images put copies of a training image in the held-out fold and a memorising
classifier then scores far above chance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sonomics.config import ModelsConfig, SelectionConfig
from sonomics.models.family import feature_family
from sonomics.selection import LassoSelector


def _noise_cohort(seed: int = 4, patients: int = 120, features: int = 20):
    rng = np.random.default_rng(seed)
    rows, labels, groups = [], [], []
    for p in range(patients):
        base = rng.normal(size=features)
        label = int(rng.integers(0, 2))
        for _ in range(int(rng.integers(2, 4))):
            rows.append(base + rng.normal(scale=0.05, size=features))  # near-duplicates
            labels.append(label)
            groups.append(f"p{p}")
    X = pd.DataFrame(rows, columns=[f"f{i}" for i in range(features)])
    return X, np.asarray(labels), np.asarray(groups)


def _family(X, y, groups, classifier):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return feature_family(X, y, family="noise",
                              selection_cfg=SelectionConfig(p_threshold=1.0, lasso_folds=5),
                              models_cfg=ModelsConfig(classifiers=[classifier], cv_folds=5),
                              random_state=0, groups=groups)


@pytest.mark.parametrize("classifier", ["LR", "ExtraTrees"])
def test_grouped_folds_give_chance_auc_on_noise_and_image_folds_do_not(classifier):
    X, y, groups = _noise_cohort()
    honest = _family(X, y, groups, classifier)
    assert abs(honest.cv_auc[classifier] - 0.5) <= 0.07, honest.cv_auc
    oof_auc = _auc(y, honest.oof_proba)
    assert abs(oof_auc - 0.5) <= 0.07, oof_auc
    leaky = _family(X, y, None, classifier)  # what folds of images report (LR 0.70, ET 0.99)
    assert leaky.cv_auc[classifier] > 0.65, leaky.cv_auc


def test_training_folds_never_split_a_group_and_the_lasso_uses_them():
    from sonomics.data.splits import training_folds

    X, y, groups = _noise_cohort(seed=5)
    for _, held in training_folds(5, groups, 0).split(X, y, groups):
        inside = set(groups[held])
        others = set(np.delete(groups, held))
        assert not inside & others
    lasso = LassoSelector(cv=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lasso.fit(X.to_numpy(), y, groups=groups)
    assert np.isfinite(lasso.alpha_)


def _auc(y, score) -> float:
    from sonomics.evaluation.delong import safe_auc

    return float(safe_auc(np.asarray(y), np.asarray(score)))
