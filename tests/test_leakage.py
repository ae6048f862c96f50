"""Proof that the selection + classifier pipeline does not leak (issue 4, section 7).

With permuted labels there is nothing to learn: the honest pipeline (selection
re-fitted inside every CV fold) must give training-CV and test AUCs near 0.5,
while the deliberately leaky variant (selection fitted once on all training
data, then cross-validated) must look clearly, falsely, good.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from sonomics.config import SelectionConfig
from sonomics.models.classifiers import fit_classifier
from sonomics.selection import build_selection_pipeline

N_TRAIN, N_TEST, N_FEATURES, N_PERMUTATIONS = 100, 100, 400, 4
GRID = {"C": [0.1, 1.0]}


def _permuted_study(seed: int):
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    X = pd.DataFrame(rng.normal(size=(n, N_FEATURES)),
                     columns=[f"f{i}" for i in range(N_FEATURES)])
    y = (X["f0"] + X["f1"] > 0).astype(int).to_numpy()
    y = rng.permutation(y)  # break any link between features and labels
    return X.iloc[:N_TRAIN], y[:N_TRAIN], X.iloc[N_TRAIN:], y[N_TRAIN:]


def _selection():
    return build_selection_pipeline(SelectionConfig(lasso_folds=5, greedy_max_features=64),
                                    random_state=0)


def _honest(seed: int) -> tuple[float, float]:
    X, y, Xt, yt = _permuted_study(seed)
    search = fit_classifier("LR", X, y, selection=_selection(), grid=GRID, cv_folds=5,
                            random_state=seed)
    return search.cv_auc_, roc_auc_score(yt, search.predict_proba(Xt)[:, 1])


def _leaky(seed: int) -> tuple[float, float]:
    X, y, Xt, yt = _permuted_study(seed)
    selection = _selection().fit(X, y)  # the mistake: selection sees every CV fold
    search = fit_classifier("LR", selection.transform(X), y, grid=GRID, cv_folds=5,
                            random_state=seed)
    return search.cv_auc_, roc_auc_score(yt, search.predict_proba(selection.transform(Xt))[:, 1])


def test_permuted_labels_honest_pipeline_near_chance_leaky_variant_optimistic():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        honest = np.array([_honest(s) for s in range(N_PERMUTATIONS)])
        leaky = np.array([_leaky(s) for s in range(N_PERMUTATIONS)])
    honest_cv, honest_test = honest.mean(axis=0)
    leaky_cv, leaky_test = leaky.mean(axis=0)
    print(f"honest CV AUC {honest_cv:.3f} test {honest_test:.3f}; "
          f"leaky CV AUC {leaky_cv:.3f} test {leaky_test:.3f}")
    assert abs(honest_cv - 0.5) <= 0.1
    assert abs(honest_test - 0.5) <= 0.1
    assert leaky_cv >= 0.7  # selection saw the held-out folds
    assert abs(leaky_test - 0.5) <= 0.1  # the test set exposes it
