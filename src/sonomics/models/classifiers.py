"""The seven classifiers of the paper (section 2.7): a registry of factories and grids.

Each entry maps a name to a factory ``f(random_state) -> estimator`` and a
small default hyper-parameter grid. Grids are deliberately small (2-4 points)
so that one model family (7 classifiers x 5-fold grid search, selection
re-fitted in every fold) on ~370 cases x ~30 features runs in well under a
minute on 2 cores; pass ``grid=`` to :func:`fit_classifier` for a wider search.

Default grids:

=============  ==============================================================
LR             C in {0.01, 0.1, 1, 10} (L2, lbfgs)
SVM            RBF, Platt-scaled probabilities; C in {0.1, 1, 10}
RandomForest   200 trees; max_depth in {3, None}
ExtraTrees     200 trees; max_depth in {3, None}
XGBoost        200 rounds, lr 0.05; max_depth in {2, 4}
LightGBM       200 rounds, lr 0.05, verbose=-1; num_leaves in {7, 15}
MLP            adam, L2 alpha 0.01; hidden in {(32,), (64, 32)}
=============  ==============================================================

Hyper-parameters are chosen by 5-fold stratified CV on the training data
scored by ROC AUC; as in the paper ("superior median performance") the grid
point with the highest *median* fold AUC is refitted on all training data.
Every random element (fold split, model seeds) is fixed by ``random_state``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sonomics.data.splits import groups_per_class, training_folds


@dataclass(frozen=True)
class ClassifierSpec:
    """A registry entry: how to build a classifier and which grid to search."""

    name: str
    factory: Callable[[int], BaseEstimator]
    grid: dict[str, list[Any]] = field(default_factory=dict)


def _svm(random_state: int) -> BaseEstimator:
    # Platt-scaled RBF SVM; scikit-learn 1.9 deprecates SVC(probability=True) for exactly this.
    return CalibratedClassifierCV(SVC(kernel="rbf", random_state=random_state),
                                  method="sigmoid", ensemble=False, cv=5)


def _xgboost(random_state: int) -> BaseEstimator:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=200, learning_rate=0.05, max_depth=3, subsample=0.9,
                         eval_metric="logloss", n_jobs=1, random_state=random_state,
                         verbosity=0)


def _lightgbm(random_state: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15,
                          min_child_samples=5, subsample=0.9, subsample_freq=1,
                          n_jobs=1, random_state=random_state, verbose=-1)


CLASSIFIERS: dict[str, ClassifierSpec] = {
    spec.name: spec
    for spec in [
        ClassifierSpec("LR", lambda rs: LogisticRegression(max_iter=5000, random_state=rs),
                       {"C": [0.01, 0.1, 1.0, 10.0]}),
        ClassifierSpec("SVM", _svm, {"estimator__C": [0.1, 1.0, 10.0]}),
        ClassifierSpec("RandomForest",
                       lambda rs: RandomForestClassifier(n_estimators=200, n_jobs=1,
                                                         random_state=rs),
                       {"max_depth": [3, None]}),
        ClassifierSpec("ExtraTrees",
                       lambda rs: ExtraTreesClassifier(n_estimators=200, n_jobs=1,
                                                       random_state=rs),
                       {"max_depth": [3, None]}),
        ClassifierSpec("XGBoost", _xgboost, {"max_depth": [2, 4]}),
        ClassifierSpec("LightGBM", _lightgbm, {"num_leaves": [7, 15]}),
        ClassifierSpec("MLP",
                       lambda rs: MLPClassifier(max_iter=2000, alpha=1e-2, random_state=rs),
                       {"hidden_layer_sizes": [(32,), (64, 32)]}),
    ]
}


def make_classifier(name: str, random_state: int = 42) -> BaseEstimator:
    """A fresh, unfitted classifier from the registry."""
    try:
        return CLASSIFIERS[name].factory(random_state)
    except KeyError:
        raise ValueError(
            f"classifier: unknown name {name!r}; registered: {list(CLASSIFIERS)}"
        ) from None


def _best_median_index(cv_results: dict[str, Any]) -> int:
    """Grid point with the highest median fold score (ties: first; then mean breaks ties)."""
    splits = sorted(k for k in cv_results if k.startswith("split") and k.endswith("_test_score"))
    scores = np.column_stack([cv_results[k] for k in splits])
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    median = np.median(scores, axis=1)
    mean = np.mean(scores, axis=1)
    order = np.lexsort((-mean, -median))  # primary: median desc, secondary: mean desc
    return int(order[0])


class FoldsReducedWarning(UserWarning):
    """Cross-validation runs with fewer folds than configured (a class is too small)."""


def class_counts(y: Any, who: str) -> tuple[int, int]:
    """(benign, malignant) counts of 0/1 labels; raises when a class is absent.

    ``who`` names the caller in the one-line error (a classifier or model family).
    """
    labels = np.asarray(y)
    try:
        values = labels.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: labels must be 0 (benign) / 1 (malignant)") from None
    if values.ndim != 1 or not np.isin(values, (0.0, 1.0)).all():
        raise ValueError(f"{who}: labels must be 0 (benign) / 1 (malignant)")
    n_pos = int((values == 1).sum())
    n_neg = int(values.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        present = "benign" if n_pos == 0 else "malignant"
        raise ValueError(f"{who}: one class only ({values.size} {present} cases); benign "
                         "and malignant cases are both needed")
    return n_neg, n_pos


def cv_fold_count(y: Any, cv_folds: int, who: str, stacklevel: int = 2,
                  groups: Any = None) -> int:
    """Folds for stratified CV: ``cv_folds``, reduced to the smallest class size (warned).

    With ``groups`` the size of a class is its number of groups (patients), since grouped
    folds move whole groups. Raises ``ValueError`` when a class has fewer than 2 (no CV is
    possible). ``stacklevel`` points the warning at the user's call.
    """
    n_min = min(class_counts(y, who))
    unit = "cases"
    if groups is not None:
        n_min, unit = min(groups_per_class(y, groups)), "patients (groups)"
    if n_min < 2:
        raise ValueError(f"{who}: need at least 2 {unit} of each class for cross-validation, "
                         f"the smallest class has {n_min}")
    folds = min(cv_folds, n_min)
    if folds < cv_folds:
        warnings.warn(f"cv_folds: {cv_folds}-fold cross-validation reduced to {folds} folds: "
                      f"the smallest class has only {n_min} training {unit}",
                      FoldsReducedWarning, stacklevel=stacklevel)
    return folds


def selection_fit_params(selection: BaseEstimator | None, groups: Any) -> dict[str, Any]:
    """Fit parameters that hand the groups to the selection's own CV (LASSO's lambda)."""
    if selection is None or groups is None:
        return {}
    steps = dict(getattr(selection, "steps", []))
    return {"select__lasso__groups": np.asarray(groups)} if "lasso" in steps else {}


def _fit_inner_calibration(clf: BaseEstimator, y: Any, folds: int, name: str) -> None:
    """Shrink a calibrated classifier's inner CV (SVM's Platt scaling) to fit small folds.

    The inner CV runs on the training part of each outer fold, whose smallest class
    has ``n_min - ceil(n_min / folds)`` cases; a 5-fold inner CV needs 5 of each.
    """
    if not isinstance(clf, CalibratedClassifierCV) or not isinstance(clf.cv, int):
        return
    n_min = min(class_counts(y, name))
    smallest = n_min - -(-n_min // folds)
    if smallest < clf.cv:
        if smallest < 2:
            raise ValueError(f"{name}: too few cases for its inner calibration CV (the "
                             f"smallest class has {n_min} cases)")
        clf.set_params(cv=smallest)


def fit_classifier(
    name: str,
    X: Any,
    y: Any,
    *,
    selection: BaseEstimator | None = None,
    grid: dict[str, list[Any]] | None = None,
    cv_folds: int = 5,
    random_state: int = 42,
    memory: Any = None,
    n_jobs: int | None = None,
    groups: Any = None,
) -> GridSearchCV:
    """Grid-search one registered classifier on training data (selection inside each fold).

    The estimator searched is
    ``Pipeline([("select", selection), ("scale", StandardScaler()), ("clf", classifier)])``
    (``"select"`` omitted when ``selection`` is None), so the selection chain is
    re-fitted on the training part of every fold and never sees the held-out
    fold. ``memory`` (a joblib ``Memory`` or folder) caches fitted selection
    steps across grid points and classifiers that share the same folds.

    Returns the fitted :class:`~sklearn.model_selection.GridSearchCV`, refitted on
    all of ``X`` with the grid point of best median fold AUC; ``cv_auc_``
    (mean fold AUC of that point) is attached to it.

    ``groups`` (patient joined with near-duplicate group, one per row): the folds keep
    each group on one side and the LASSO's own CV is grouped the same way; without them
    folds are of rows (independent cases only).

    Small training sets: the folds are reduced to the smallest class size (with a
    :class:`FoldsReducedWarning`) and the SVM's inner Platt-scaling CV to the
    smallest class of a fold's training part; one class only, or a class with
    fewer than 2 cases, raises ``ValueError`` naming the classifier.
    """
    clf = make_classifier(name, random_state)
    folds = cv_fold_count(y, cv_folds, who=name, stacklevel=3, groups=groups)
    _fit_inner_calibration(clf, y, folds, name)
    steps: list[tuple[str, BaseEstimator]] = []
    if selection is not None:
        steps.append(("select", clone(selection)))
    # z-scoring here too: harmless after the selection's own z-score, needed by
    # LR/SVM/MLP on raw clinical variables; tree models are unaffected.
    steps.append(("scale", StandardScaler()))
    steps.append(("clf", clf))
    pipe = Pipeline(steps, memory=memory)
    params = CLASSIFIERS[name].grid if grid is None else grid
    param_grid = {f"clf__{k}": list(v) for k, v in params.items()}
    cv = training_folds(folds, groups, random_state)
    search = GridSearchCV(pipe, param_grid or [{}], scoring="roc_auc", cv=cv,
                          refit=_best_median_index, n_jobs=n_jobs, error_score="raise")
    search.fit(X, y, groups=groups, **selection_fit_params(selection, groups))
    search.cv_auc_ = float(search.cv_results_["mean_test_score"][search.best_index_])
    return search
