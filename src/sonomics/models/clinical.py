"""The clinical model: uni- then multivariable logistic regression, then seven classifiers.

Paper section 2.8: clinical and ultrasound variables are screened by
univariable logistic regression; variables with p < ``univariable_p`` enter a
multivariable logistic regression; variables with p < ``clinical_p`` there
are the independent risk factors. They form the clinical model, trained with
the seven classifiers (Table 3), and later enter the nomogram.

Encoding: continuous variables are used as they are; a categorical variable
is one-hot encoded against a reference level (the first level in sorted
order unless ``reference`` names one), so each non-reference level gets its
own odds ratio, named ``<variable>_<level>``. A categorical variable counts
as significant when any of its levels is (smallest level p-value). Everything
is learned on the training cases only (:class:`ClinicalEncoder` is a
scikit-learn transformer; an unseen test category is a clear error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from sonomics.config import ModelsConfig
from sonomics.evaluation.metrics import format_ci
from sonomics.models.family import FamilyResult, fit_family
from sonomics.models.logistic import fit_logistic

#: the level a missing categorical value becomes (a level of its own, learned like any other)
MISSING_LEVEL = "missing"


class ClinicalImputer(TransformerMixin, BaseEstimator):
    """Fill missing clinical values with what the training cases suggest.

    Continuous columns get the training median; a missing categorical value becomes its
    own level, ``"missing"``. Categorical values are returned as strings. The fill values
    are learned in ``fit`` (``fill_``) and applied unchanged to every later case, in the
    study and in ``sonomics predict`` alike.

    Args:
        continuous: names of continuous columns.
        categorical: names of categorical columns.
    """

    def __init__(self, continuous: list[str] | None = None,
                 categorical: list[str] | None = None):
        self.continuous = continuous
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y=None):
        self.fill_: dict[str, Any] = {}
        for col in self.continuous or []:
            self.fill_[col] = float(np.nanmedian(_numeric(X, col)))
        for col in self.categorical or []:
            self.fill_[col] = MISSING_LEVEL
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "fill_")
        out = X.copy()
        for col in self.continuous or []:
            out[col] = pd.Series(_numeric(X, col), index=X.index).fillna(self.fill_[col])
        for col in self.categorical or []:
            out[col] = X[col].astype(object).where(X[col].notna(), self.fill_[col]).astype(str)
        return out


def _numeric(X: pd.DataFrame, col: str) -> np.ndarray:
    if col not in X.columns:
        raise ValueError(f"clinical data: missing column {col!r}")
    try:
        return pd.to_numeric(X[col]).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"clinical data: continuous column {col!r} is not numeric") from None


class ClinicalEncoder(TransformerMixin, BaseEstimator):
    """Continuous columns as floats + categorical columns one-hot against a reference level.

    Args:
        continuous: names of continuous columns.
        categorical: names of categorical columns.
        reference: optional ``{column: reference level}``; default the first sorted level.
    """

    def __init__(self, continuous: list[str] | None = None,
                 categorical: list[str] | None = None,
                 reference: dict[str, Any] | None = None):
        self.continuous = continuous
        self.categorical = categorical
        self.reference = reference

    def fit(self, X: pd.DataFrame, y=None):
        """Learn each categorical column's levels (``levels_``) and the output columns."""
        X = self._check_frame(X)
        self.levels_: dict[str, list[str]] = {}
        self.variable_of_: dict[str, str] = {}
        cols: list[str] = []
        for col in self.continuous or []:
            cols.append(col)
            self.variable_of_[col] = col
        for col in self.categorical or []:
            levels = sorted(X[col].astype(str).unique())
            ref = (self.reference or {}).get(col)
            if ref is not None:
                ref = str(ref)
                if ref not in levels:
                    raise ValueError(f"reference: level {ref!r} not found in column {col!r}")
                levels = [ref] + [lv for lv in levels if lv != ref]
            self.levels_[col] = levels
            for lv in levels[1:]:
                name = f"{col}_{lv}"
                cols.append(name)
                self.variable_of_[name] = col
        self.feature_names_out_ = np.asarray(cols, dtype=object)
        return self

    def _check_frame(self, X: Any) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ClinicalEncoder: X must be a pandas DataFrame with named columns")
        needed = list(self.continuous or []) + list(self.categorical or [])
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise ValueError(f"clinical data: missing column(s) {missing}")
        for col in needed:
            n_na = int(X[col].isna().sum())
            if n_na:
                raise ValueError(f"clinical data: column {col!r} has {n_na} missing value(s); "
                                 "impute or exclude those cases first")
        return X

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Design matrix with the columns learned in ``fit`` (same order)."""
        check_is_fitted(self, "levels_")
        X = self._check_frame(X)
        out = {}
        for col in self.continuous or []:
            try:
                out[col] = pd.to_numeric(X[col]).astype(float).to_numpy()
            except (TypeError, ValueError):
                raise ValueError(f"clinical data: continuous column {col!r} is not numeric"
                                 ) from None
        for col, levels in self.levels_.items():
            values = X[col].astype(str)
            unseen = sorted(set(values) - set(levels))
            if unseen:
                raise ValueError(f"clinical data: column {col!r} has unseen level(s) {unseen} "
                                 f"(training levels: {levels})")
            for lv in levels[1:]:
                out[f"{col}_{lv}"] = (values == lv).astype(float).to_numpy()
        return pd.DataFrame(out, index=X.index, columns=list(self.feature_names_out_))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "levels_")
        return self.feature_names_out_


def _logit(y: np.ndarray, X: pd.DataFrame) -> tuple[pd.DataFrame, str, bool]:
    """OR, CI and p of each column of ``X`` in one logistic regression (intercept added),
    the fit's note, and whether Firth's penalised likelihood replaced maximum likelihood.

    Separation (a level seen in one class only, a perfectly predicting variable) is
    fitted with Firth's penalised likelihood and said in the note, instead of an OR of
    0.000 with CI 0-inf.
    """
    firth = False
    try:
        with np.errstate(over="ignore"):
            fit = fit_logistic(X, y, list(X.columns))
        params, conf, pvalues = fit.params, fit.conf_int(), fit.pvalues
        note = "; ".join(fit.notes)
        firth = fit.method != "maximum likelihood"
    except (np.linalg.LinAlgError, ValueError) as exc:
        nan = pd.Series(np.nan, index=["const", *X.columns])
        params, pvalues = nan, nan
        conf = pd.DataFrame({0: nan, 1: nan})
        note = f"not estimable ({type(exc).__name__})"
    cols = list(X.columns)
    with np.errstate(over="ignore"):
        res = pd.DataFrame({
            "OR": np.exp(params[cols].to_numpy(dtype=float)),
            "lower": np.exp(conf.loc[cols, 0].to_numpy(dtype=float)),
            "upper": np.exp(conf.loc[cols, 1].to_numpy(dtype=float)),
            "p": pvalues[cols].to_numpy(dtype=float),
        }, index=cols)
    return res, note, firth


@dataclass
class ClinicalAnalysis:
    """Univariable + multivariable results and the factors retained."""

    table: pd.DataFrame
    univariable: pd.DataFrame
    multivariable: pd.DataFrame
    candidates: list[str]
    selected_variables: list[str]
    selected_columns: list[str]
    encoder: ClinicalEncoder
    firth_columns: list[str] = field(default_factory=list)  # fitted with Firth, not ML
    sparse_columns: list[str] = field(default_factory=list)  # levels not reliably estimable


SPARSE_LEVEL = 5  # fewer training cases than this in a level, or none of one class


def sparse_level_note(indicator: np.ndarray, y: np.ndarray) -> str:
    """Say when a category level is too sparse to estimate: fewer than ``SPARSE_LEVEL``
    training cases, or cases of one class only (separation).

    The level is kept (merging levels would change what the variable means, and which
    merge is right is a clinical decision); its odds ratio comes from Firth's penalised
    likelihood when maximum likelihood fails, and the note tells the reader not to
    interpret it.
    """
    present = indicator.astype(bool)
    n, events = int(present.sum()), int(y[present].sum())
    if n < SPARSE_LEVEL:
        return (f"sparse level: {n} training case(s), {events} malignant; its odds ratio is "
                "not reliably estimable")
    if events in (0, n):
        return (f"level seen in one class only ({n} training cases, "
                f"{'all malignant' if events else 'all benign'}): separation; its odds ratio "
                "is not reliably estimable")
    return ""


def _variable_p(res: pd.DataFrame, variable_of: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for col, p in res["p"].items():
        var = variable_of[col]
        p = 1.0 if np.isnan(p) else float(p)
        out[var] = min(out.get(var, 1.0), p)
    return out


def clinical_analysis(
    data: pd.DataFrame,
    y: Any,
    continuous: list[str],
    categorical: list[str],
    *,
    univariable_p: float = 0.05,
    clinical_p: float = 0.05,
    reference: dict[str, Any] | None = None,
) -> ClinicalAnalysis:
    """Supplementary Table 1: univariable and multivariable logistic regression on training data.

    Returns the table (``Variable, Univariable OR, Univariable 95% CI,
    Univariable p, Multivariable OR, Multivariable 95% CI, Multivariable p``;
    one row per continuous variable / non-reference level; multivariable
    cells empty for variables that did not enter it), the candidate variables
    (univariable p < ``univariable_p``) and the retained ones (multivariable
    p < ``clinical_p``) with their design-matrix columns.
    """
    y_arr = np.asarray(y).astype(int)
    if not continuous and not categorical:
        raise ValueError("data.continuous/data.categorical: no clinical variables declared")
    encoder = ClinicalEncoder(continuous, categorical, reference).fit(data)
    X = encoder.transform(data)
    if X.shape[0] != y_arr.size:
        raise ValueError(f"clinical data: {X.shape[0]} rows but {y_arr.size} labels")
    uni_parts, notes, firth_cols = [], {}, []
    variables = list(continuous) + list(categorical)
    for var in variables:
        cols = [c for c, v in encoder.variable_of_.items() if v == var]
        res, note, firth = _logit(y_arr, X[cols])
        uni_parts.append(res)
        firth_cols += cols if firth else []
        for c in cols:
            notes[c] = note
    uni = pd.concat(uni_parts)
    uni_p = _variable_p(uni, encoder.variable_of_)
    candidates = [v for v in variables if uni_p[v] < univariable_p]
    multi = pd.DataFrame(columns=["OR", "lower", "upper", "p"], dtype=float)
    selected: list[str] = []
    if candidates:
        cand_cols = [c for c, v in encoder.variable_of_.items() if v in candidates]
        multi, note, firth = _logit(y_arr, X[cand_cols])
        firth_cols += [c for c in cand_cols if firth and c not in firth_cols]
        if note:
            for c in cand_cols:
                notes[c] = (notes[c] + "; " if notes[c] else "") + f"multivariable: {note}"
        multi_p = _variable_p(multi, encoder.variable_of_)
        selected = [v for v in candidates if multi_p[v] < clinical_p]
    selected_cols = [c for c, v in encoder.variable_of_.items() if v in selected]

    sparse_cols = []
    for col, var in encoder.variable_of_.items():
        if var in categorical:
            sparse = sparse_level_note(X[col].to_numpy(), y_arr)
            if sparse:
                sparse_cols.append(col)
                notes[col] = f"{sparse}; {notes[col]}" if notes.get(col) else sparse
    rows = []
    for col in X.columns:
        u = uni.loc[col]
        row = {
            "Variable": col,
            "Univariable OR": u["OR"],
            "Univariable 95% CI": format_ci(u["lower"], u["upper"]),
            "Univariable p": u["p"],
            "Multivariable OR": "",
            "Multivariable 95% CI": "",
            "Multivariable p": "",
            "Retained": encoder.variable_of_[col] in selected,
            "Note": notes.get(col, ""),
        }
        if col in multi.index:
            m = multi.loc[col]
            row.update({"Multivariable OR": m["OR"],
                        "Multivariable 95% CI": format_ci(m["lower"], m["upper"]),
                        "Multivariable p": m["p"]})
        rows.append(row)
    return ClinicalAnalysis(table=pd.DataFrame(rows), univariable=uni, multivariable=multi,
                            candidates=candidates, selected_variables=selected,
                            selected_columns=selected_cols, encoder=encoder,
                            firth_columns=firth_cols, sparse_columns=sparse_cols)


def clinical_model(
    train: pd.DataFrame,
    y_train: Any,
    test: pd.DataFrame | None = None,
    y_test: Any = None,
    *,
    continuous: list[str],
    categorical: list[str],
    cfg: ModelsConfig | None = None,
    reference: dict[str, Any] | None = None,
    grids: dict[str, dict[str, list[Any]]] | None = None,
    random_state: int = 42,
    groups: Any = None,
) -> tuple[ClinicalAnalysis, FamilyResult]:
    """Select the clinical factors on training data and fit the seven classifiers (Table 3).

    Raises ``ValueError`` when no factor is retained (the clinical model would be empty).
    """
    cfg = cfg or ModelsConfig()
    analysis = clinical_analysis(train, y_train, continuous, categorical,
                                 univariable_p=cfg.univariable_p, clinical_p=cfg.clinical_p,
                                 reference=reference)
    if not analysis.selected_columns:
        raise ValueError(
            f"models.clinical_p: no clinical factor has multivariable p < {cfg.clinical_p}; "
            "the clinical model is empty"
        )
    X_train = analysis.encoder.transform(train)[analysis.selected_columns]
    X_test = None
    if test is not None:
        X_test = analysis.encoder.transform(test)[analysis.selected_columns]
    family = fit_family(X_train, y_train, X_test, y_test, family="Clinical",
                        classifiers=cfg.classifiers, grids=grids, cv_folds=cfg.cv_folds,
                        random_state=random_state, groups=groups)
    return analysis, family
