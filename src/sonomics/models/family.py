"""Fit every classifier of a model family and tabulate it in the paper's format.

A *model family* is one feature set (clinical factors, handcrafted radiomics,
deep features, fused DLR features) fed to the seven classifiers (the paper's
Tables 3, 4 and 6). For each classifier the selection pipeline and the
classifier are grid-searched together on the training data (selection
re-fitted in every fold); the family's best classifier is the one with the
highest training cross-validated AUC -- test results never influence it.

Bad input fails early with one line naming the family and what is wrong (one
class only, too few cases for the folds, NaN or infinite features with their
columns and cases). A single classifier that fails on otherwise valid data (for
example boosted trees that predict one constant probability on a tiny training
set, which makes the ROC curve undefined) is left out of the table with a
:class:`ClassifierFailedWarning` and recorded in ``FamilyResult.failures``; the
other classifiers go on.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Memory
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import cross_val_predict

from sonomics.data.splits import groups_per_class, training_folds
from sonomics.evaluation.metrics import performance_rows
from sonomics.models.classifiers import (
    CLASSIFIERS,
    FoldsReducedWarning,
    class_counts,
    cv_fold_count,
    fit_classifier,
    selection_fit_params,
)

#: errors of one classifier that leave the rest of the family running
_CLASSIFIER_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError)


class ClassifierFailedWarning(UserWarning):
    """One classifier of a family failed and is left out of its table."""


def check_features(X: Any, who: str) -> None:
    """Refuse NaN or infinite features with one line naming the columns and cases.

    No classifier result may rest on a silently imputed or overflowing value:
    fix the extraction, or drop the feature or the case, before fitting.
    """
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    text = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ValueError(f"{who}: feature column(s) {_names(text)} are not numeric")
    values = frame.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    columns = [str(c) for c in frame.columns[bad.any(axis=0)]]
    cases = [str(c) for c in frame.index[bad.any(axis=1)]]
    kinds = " and ".join(k for k, hit in (("NaN", np.isnan(values).any()),
                                          ("infinite", np.isinf(values).any())) if hit)
    raise ValueError(f"{who}: feature(s) {_names(columns)} hold {kinds} values in case(s) "
                     f"{_names(cases)}; drop those features or exclude those cases before "
                     "fitting")


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _check_inputs(X_train: Any, y_train: Any, X_test: Any, y_test: Any, family: str,
                  cv_folds: int, with_selection: bool, groups: Any = None) -> None:
    """Data-level problems that would fail every classifier: raise one clear line."""
    if len(X_train) != len(np.asarray(y_train)):
        raise ValueError(f"{family}: {len(X_train)} training rows but "
                         f"{len(np.asarray(y_train))} labels")
    check_features(X_train, f"{family} training set")
    n_min = min(class_counts(y_train, f"{family} training set"))
    if groups is not None:
        if len(np.asarray(groups)) != len(X_train):
            raise ValueError(f"{family}: {len(np.asarray(groups))} groups for "
                             f"{len(X_train)} training rows")
        n_min = min(groups_per_class(y_train, groups))
    folds = cv_fold_count(y_train, cv_folds, who=f"{family} training set", stacklevel=4,
                          groups=groups)
    if with_selection and n_min - -(-n_min // folds) < 2:
        raise ValueError(f"{family} training set: the smallest class has {n_min} cases; feature "
                         "selection inside the CV folds needs at least 3 of each class")
    if (X_test is None) != (y_test is None):
        raise ValueError(f"{family}: give both X_test and y_test, or neither")
    if X_test is not None:
        check_features(X_test, f"{family} test set")
        class_counts(y_test, f"{family} test set")


@dataclass
class FamilyResult:
    """Everything a family fit produces (all arrays follow the input row order)."""

    family: str
    models: dict[str, Any]
    cv_auc: dict[str, float]
    best_params: dict[str, dict[str, Any]]
    train_proba: dict[str, np.ndarray]
    test_proba: dict[str, np.ndarray] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    best: str = ""
    oof_proba: np.ndarray | None = None
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def failures_table(self) -> pd.DataFrame:
        """Family, classifier and one-line reason of every classifier left out."""
        return pd.DataFrame([(self.family, k, v) for k, v in self.failures.items()],
                            columns=["family", "classifier", "reason"])

    @property
    def cv_table(self) -> pd.DataFrame:
        """Classifier, training CV AUC and chosen hyper-parameters (the basis of ``best``)."""
        return pd.DataFrame({
            "Classifier": list(self.cv_auc),
            "CV AUC": list(self.cv_auc.values()),
            "Parameters": [str(self.best_params[k]) for k in self.cv_auc],
        })


def positive_proba(model: Any, X: Any) -> np.ndarray:
    """Probability of the positive (malignant) class of each row of ``X``."""
    return np.asarray(model.predict_proba(X))[:, 1]


def fit_family(
    X_train: pd.DataFrame,
    y_train: Any,
    X_test: pd.DataFrame | None = None,
    y_test: Any = None,
    *,
    family: str = "Model",
    selection: BaseEstimator | None = None,
    classifiers: list[str] | None = None,
    grids: dict[str, dict[str, list[Any]]] | None = None,
    cv_folds: int = 5,
    random_state: int = 42,
    out_of_fold: bool = True,
    groups: Any = None,
) -> FamilyResult:
    """Grid-search each classifier on the training set and evaluate on both sets.

    Args:
        X_train, y_train: training features (rows = cases) and 0/1 labels.
        X_test, y_test: optional test set, only predicted, never fitted on.
        family: label of the family (used in logs and tables).
        selection: unfitted selection pipeline (e.g. ``build_selection_pipeline``);
            re-fitted inside every CV fold and finally on all training data.
        classifiers: registry names (default: all seven, paper order).
        grids: per-classifier grid overrides (tests use tiny ones).
        cv_folds: folds of the grid search (paper: 5).
        random_state: seed of folds and models.
        out_of_fold: also compute out-of-fold training probabilities of the best
            classifier (``oof_proba``), e.g. the DLR score the nomogram needs.
        groups: one per training row (patient joined with near-duplicate group): every
            fold of the grid search, of the LASSO's CV and of the out-of-fold scores
            keeps a group on one side. Without them rows are taken as independent.

    Returns:
        :class:`FamilyResult`; ``table`` holds rows ``<classifier>-training (apparent)`` and
        ``<classifier>-testing`` with the paper's columns, cut-offs from training.
    """
    names = list(classifiers or CLASSIFIERS)
    _check_inputs(X_train, y_train, X_test, y_test, family, cv_folds, selection is not None,
                  groups)
    y_tr = np.asarray(y_train).astype(int)
    y_te = None if y_test is None else np.asarray(y_test).astype(int)
    models: dict[str, Any] = {}
    cv_auc: dict[str, float] = {}
    params: dict[str, dict[str, Any]] = {}
    train_proba: dict[str, np.ndarray] = {}
    test_proba: dict[str, np.ndarray] = {}
    failures: dict[str, str] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sonomics-sel-") as cache_dir:
        memory = Memory(cache_dir, verbose=0) if selection is not None else None
        for name in names:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FoldsReducedWarning)  # warned once above
                    search = fit_classifier(name, X_train, y_tr, selection=selection,
                                            grid=(grids or {}).get(name), cv_folds=cv_folds,
                                            random_state=random_state, memory=memory,
                                            groups=groups)
                model = search.best_estimator_
                model.memory = None  # the cache folder is temporary
                p_train = positive_proba(model, X_train)
                p_test = None if X_test is None else positive_proba(model, X_test)
                rows.append(performance_rows(name, y_tr, p_train, y_te, p_test,
                                             label_apparent=True))
            except _CLASSIFIER_ERRORS as exc:
                failures[name] = " ".join(str(exc).split())
                warnings.warn(f"{family}: classifier {name} failed and is left out: "
                              f"{failures[name]}", ClassifierFailedWarning, stacklevel=2)
                continue
            models[name] = model
            cv_auc[name] = search.cv_auc_
            params[name] = {k.removeprefix("clf__"): v for k, v in search.best_params_.items()}
            train_proba[name] = p_train
            if p_test is not None:
                test_proba[name] = p_test
        if not models:
            raise ValueError(f"{family}: every classifier failed: " + "; ".join(
                f"{k}: {v}" for k, v in failures.items()))
        fitted = list(models)
        best = max(fitted, key=lambda n: (cv_auc[n], -fitted.index(n)))
        oof = None
        if out_of_fold:
            n_min = (min(groups_per_class(y_tr, groups)) if groups is not None
                     else int(np.bincount(y_tr).min()))
            cv = training_folds(min(cv_folds, n_min), groups, random_state)
            # the same folds as the grid search: with the selection cache still open, the
            # chain fitted on each fold there is reused here instead of refitted
            oof_model = clone(models[best]).set_params(memory=memory)
            oof = cross_val_predict(oof_model, X_train, y_tr, cv=cv, groups=groups,
                                    method="predict_proba",
                                    params=selection_fit_params(selection, groups))[:, 1]
    table = pd.concat(rows, ignore_index=True)
    return FamilyResult(family=family, models=models, cv_auc=cv_auc, best_params=params,
                        train_proba=train_proba, test_proba=test_proba, table=table,
                        best=best, oof_proba=oof, failures=failures)


def feature_family(
    X_train: pd.DataFrame,
    y_train: Any,
    X_test: pd.DataFrame | None = None,
    y_test: Any = None,
    *,
    family: str = "Radiomics",
    selection_cfg: Any = None,
    models_cfg: Any = None,
    icc_table: pd.DataFrame | None = None,
    icc_threshold: float = 0.85,
    grids: dict[str, dict[str, list[Any]]] | None = None,
    random_state: int = 42,
    groups: Any = None,
    harmoniser: Any = None,
) -> FamilyResult:
    """A feature family with the paper's selection chain (Table 4 radiomics, Table 6 DLR).

    ``selection_cfg``/``models_cfg`` are ``StudyConfig.selection``/``.models``
    (paper defaults when ``None``); the selection pipeline is built from them
    and fitted inside every CV fold, ``harmoniser`` (ComBat by site) included.
    """
    from sonomics.config import ModelsConfig
    from sonomics.selection import build_selection_pipeline

    models_cfg = models_cfg or ModelsConfig()
    selection = build_selection_pipeline(selection_cfg, icc_table=icc_table,
                                         icc_threshold=icc_threshold,
                                         random_state=random_state, harmoniser=harmoniser)
    return fit_family(X_train, y_train, X_test, y_test, family=family, selection=selection,
                      classifiers=models_cfg.classifiers, grids=grids,
                      cv_folds=models_cfg.cv_folds, random_state=random_state,
                      groups=groups)
