"""Fit every classifier of a model family and tabulate it in the paper's format.

A *model family* is one feature set (clinical factors, handcrafted radiomics,
deep features, fused DLR features) fed to the seven classifiers (the paper's
Tables 3, 4 and 6). For each classifier the selection pipeline and the
classifier are grid-searched together on the training data (selection
re-fitted in every fold); the family's best classifier is the one with the
highest training cross-validated AUC -- test results never influence it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Memory
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from sonomics.evaluation.metrics import performance_rows
from sonomics.models.classifiers import CLASSIFIERS, fit_classifier


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

    @property
    def cv_table(self) -> pd.DataFrame:
        """Classifier, training CV AUC and chosen hyper-parameters (the basis of ``best``)."""
        return pd.DataFrame({
            "Classifier": list(self.cv_auc),
            "CV AUC": list(self.cv_auc.values()),
            "Parameters": [str(self.best_params[k]) for k in self.cv_auc],
        })


def _positive_proba(model: Any, X: Any) -> np.ndarray:
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

    Returns:
        :class:`FamilyResult`; ``table`` holds rows ``<classifier>-training`` and
        ``<classifier>-testing`` with the paper's columns, cut-offs from training.
    """
    names = list(classifiers or CLASSIFIERS)
    y_tr = np.asarray(y_train).astype(int)
    y_te = None if y_test is None else np.asarray(y_test).astype(int)
    models: dict[str, Any] = {}
    cv_auc: dict[str, float] = {}
    params: dict[str, dict[str, Any]] = {}
    train_proba: dict[str, np.ndarray] = {}
    test_proba: dict[str, np.ndarray] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="sonomics-sel-") as cache_dir:
        memory = Memory(cache_dir, verbose=0) if selection is not None else None
        for name in names:
            search = fit_classifier(name, X_train, y_tr, selection=selection,
                                    grid=(grids or {}).get(name), cv_folds=cv_folds,
                                    random_state=random_state, memory=memory)
            model = search.best_estimator_
            model.memory = None  # the cache folder is temporary
            models[name] = model
            cv_auc[name] = search.cv_auc_
            params[name] = {k.removeprefix("clf__"): v for k, v in search.best_params_.items()}
            train_proba[name] = _positive_proba(model, X_train)
            if X_test is not None:
                test_proba[name] = _positive_proba(model, X_test)
            rows.append(performance_rows(name, y_tr, train_proba[name], y_te,
                                         test_proba.get(name)))
        best = max(names, key=lambda n: (cv_auc[n], -names.index(n)))
        oof = None
        if out_of_fold:
            cv = StratifiedKFold(min(cv_folds, int(np.bincount(y_tr).min())), shuffle=True,
                                 random_state=random_state)
            oof = cross_val_predict(models[best], X_train, y_tr, cv=cv,
                                    method="predict_proba")[:, 1]
    table = pd.concat(rows, ignore_index=True)
    return FamilyResult(family=family, models=models, cv_auc=cv_auc, best_params=params,
                        train_proba=train_proba, test_proba=test_proba, table=table,
                        best=best, oof_proba=oof)


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
) -> FamilyResult:
    """A feature family with the paper's selection chain (Table 4 radiomics, Table 6 DLR).

    ``selection_cfg``/``models_cfg`` are ``StudyConfig.selection``/``.models``
    (paper defaults when ``None``); the selection pipeline is built from them
    and fitted inside every CV fold.
    """
    from sonomics.config import ModelsConfig
    from sonomics.selection import build_selection_pipeline

    models_cfg = models_cfg or ModelsConfig()
    selection = build_selection_pipeline(selection_cfg, icc_table=icc_table,
                                         icc_threshold=icc_threshold,
                                         random_state=random_state)
    return fit_family(X_train, y_train, X_test, y_test, family=family, selection=selection,
                      classifiers=models_cfg.classifiers, grids=grids,
                      cv_folds=models_cfg.cv_folds, random_state=random_state)
