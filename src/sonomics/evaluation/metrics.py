"""Discrimination metrics in the paper's table format, with pROC's conventions.

Conventions (the same everywhere in sonomics, documented once):

* A higher score means malignant (label 1), as ``pROC::roc(direction = "<")``.
* A case is called positive when ``score >= threshold``. The Youden cut-off is
  one of pROC's candidate thresholds -- the midpoints between consecutive
  distinct scores, plus ``-inf`` and ``+inf`` -- so no training score ever lies
  exactly on it and ``>=`` and ``>`` agree on the training data.
* Youden's J = sensitivity + specificity - 1 is maximised; when several
  thresholds tie, the lowest one is returned (the first row of pROC's
  ``coords(roc, "best", best.method = "youden")``).
* The cut-off is chosen on TRAINING predictions and applied unchanged to test
  predictions (:func:`performance_rows`); choosing it on the evaluated set
  would be optimistic.
* PPV (NPV) is 0.0 when no case is called positive (negative), the
  ``zero_division=0`` convention of scikit-learn, so tables never hold NaN.
* One class only, constant scores or NaN scores raise :class:`DegenerateInputError`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sonomics.evaluation._checks import DegenerateInputError, check_binary
from sonomics.evaluation.delong import auc_delong, safe_auc

__all__ = [
    "DegenerateInputError",
    "PERFORMANCE_COLUMNS",
    "auc_delong",
    "binary_metrics",
    "format_ci",
    "performance_rows",
    "safe_auc",
    "youden_point",
    "youden_threshold",
]

PERFORMANCE_COLUMNS = [
    "Model", "AUC", "95% CI", "Accuracy", "Sensitivity", "Specificity", "PPV", "NPV",
]


def _candidate_thresholds(score: np.ndarray) -> np.ndarray:
    """pROC's thresholds: -inf, midpoints of consecutive distinct scores, +inf (ascending)."""
    u = np.unique(score)
    mids = (u[:-1] + u[1:]) / 2.0
    return np.concatenate([[-np.inf], mids, [np.inf]])


def youden_point(y: object, score: object) -> tuple[float, float, float]:
    """Youden-optimal ``(threshold, sensitivity, specificity)`` as pROC's ``coords("best")``."""
    y_arr, s_arr = check_binary(y, score)
    thresholds = _candidate_thresholds(s_arr)
    pos = np.sort(s_arr[y_arr == 1])
    neg = np.sort(s_arr[y_arr == 0])
    sens = (pos.size - np.searchsorted(pos, thresholds, side="left")) / pos.size
    spec = np.searchsorted(neg, thresholds, side="left") / neg.size
    j = sens + spec
    best = int(np.flatnonzero(j == j.max())[0])
    return float(thresholds[best]), float(sens[best]), float(spec[best])


def youden_threshold(y: object, score: object) -> float:
    """The cut-off maximising sensitivity + specificity (see the module docstring for ties)."""
    return youden_point(y, score)[0]


def binary_metrics(y: object, score: object, threshold: float) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, PPV and NPV calling ``score >= threshold`` positive.

    Only the labels need both classes; the scores may be constant here (a
    fixed cut-off on a test set is still well defined).
    """
    y_arr, s_arr = check_binary(y, score, allow_constant=True)
    if np.isnan(threshold):
        raise DegenerateInputError("threshold: is NaN")
    pred = s_arr >= threshold
    pos = y_arr == 1
    tp = int(np.sum(pred & pos))
    tn = int(np.sum(~pred & ~pos))
    fp = int(np.sum(pred & ~pos))
    fn = int(np.sum(~pred & pos))
    return {
        "accuracy": (tp + tn) / y_arr.size,
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "ppv": tp / (tp + fp) if tp + fp else 0.0,
        "npv": tn / (tn + fn) if tn + fn else 0.0,
    }


def format_p(p: float) -> str:
    """A p-value as a reader expects it: ``< 0.001`` rather than ``0.000``, else 3 decimals."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def format_ci(lower: float, upper: float, digits: int = 3) -> str:
    """``"0.812 - 0.901"`` as the paper prints intervals (Table 3)."""
    return f"{lower:.{digits}f} - {upper:.{digits}f}"


def _row(label: str, y: object, score: object, threshold: float) -> dict[str, object]:
    try:
        auc, lo, up = auc_delong(y, score)
        m = binary_metrics(y, score, threshold)
    except DegenerateInputError as exc:
        raise DegenerateInputError(f"{label}: {str(exc).removeprefix('score: ')}") from None
    return {
        "Model": label,
        "AUC": auc,
        "95% CI": format_ci(lo, up),
        "Accuracy": m["accuracy"],
        "Sensitivity": m["sensitivity"],
        "Specificity": m["specificity"],
        "PPV": m["ppv"],
        "NPV": m["npv"],
    }


def performance_rows(
    name: str, y_train: object, s_train: object, y_test: object = None, s_test: object = None,
    s_train_oof: object = None, label_apparent: bool = False,
    y_external: object = None, s_external: object = None,
) -> pd.DataFrame:
    """The paper's results rows ``<name>-training`` (and ``<name>-testing``, and
    ``<name>-external`` for cases of another centre).

    The Youden cut-off is chosen on the training scores and applied unchanged to the test
    (and external) scores. With ``s_train_oof`` (out-of-fold training scores) the cut-off
    is chosen on those — on resubstitution scores of a model that fits its training set
    perfectly any cut-off in a wide gap is "optimal" — and the training set gets two rows,
    ``<name>-training (apparent)`` and ``<name>-training (out-of-fold)``, the honest one
    (``label_apparent`` labels a lone training row *apparent* too).
    Columns: :data:`PERFORMANCE_COLUMNS`; the cut-off is kept in ``df.attrs["threshold"]``.
    A :class:`DegenerateInputError` names the row (``"XGBoost-training: scores are
    constant, ..."``).
    """
    try:
        threshold = youden_threshold(y_train, s_train if s_train_oof is None else s_train_oof)
    except DegenerateInputError as exc:
        raise DegenerateInputError(
            f"{name}-training: {str(exc).removeprefix('score: ')}") from None
    if s_train_oof is None:
        suffix = " (apparent)" if label_apparent else ""
        rows = [_row(f"{name}-training{suffix}", y_train, s_train, threshold)]
    else:
        rows = [_row(f"{name}-training (apparent)", y_train, s_train, threshold),
                _row(f"{name}-training (out-of-fold)", y_train, s_train_oof, threshold)]
    if (y_test is None) != (s_test is None):
        raise ValueError(f"{name}: give both y_test and s_test, or neither")
    if y_test is not None:
        rows.append(_row(f"{name}-testing", y_test, s_test, threshold))
    if (y_external is None) != (s_external is None):
        raise ValueError(f"{name}: give both y_external and s_external, or neither")
    if y_external is not None:
        rows.append(_row(f"{name}-external", y_external, s_external, threshold))
    df = pd.DataFrame(rows, columns=PERFORMANCE_COLUMNS)
    df.attrs["threshold"] = threshold
    return df
