"""Input checks shared by the evaluation statistics (one place, one error type)."""

from __future__ import annotations

import numpy as np


class DegenerateInputError(ValueError):
    """Labels or scores on which a statistic is undefined (one class, constant or NaN scores)."""


def check_binary(y: object, score: object, *, name: str = "score",
                 min_per_class: int = 1, allow_constant: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Validate a 0/1 label vector and a same-length finite, non-constant score vector.

    Raises :class:`DegenerateInputError` naming what is wrong, so that no
    statistic is ever silently reported as NaN.
    """
    y_arr = np.asarray(y)
    s_arr = np.asarray(score, dtype=float)
    if y_arr.ndim != 1 or s_arr.ndim != 1:
        raise DegenerateInputError(f"{name}: labels and scores must be 1-D")
    if y_arr.shape[0] != s_arr.shape[0]:
        raise DegenerateInputError(
            f"{name}: {y_arr.shape[0]} labels but {s_arr.shape[0]} scores"
        )
    try:
        y_float = y_arr.astype(float)
    except (TypeError, ValueError):
        raise DegenerateInputError(f"{name}: labels must be 0 (benign) / 1 (malignant)") from None
    if np.isnan(y_float).any():
        raise DegenerateInputError(f"{name}: labels contain missing values")
    if not np.isin(y_float, (0.0, 1.0)).all():
        raise DegenerateInputError(f"{name}: labels must be 0 (benign) / 1 (malignant)")
    y_int = y_float.astype(int)
    if np.isnan(s_arr).any() or np.isinf(s_arr).any():
        raise DegenerateInputError(f"{name}: scores contain NaN or infinite values")
    n_pos = int(y_int.sum())
    n_neg = int(y_int.size - n_pos)
    if n_pos < min_per_class or n_neg < min_per_class:
        raise DegenerateInputError(
            f"{name}: need at least {min_per_class} case(s) of each class, "
            f"got {n_pos} malignant and {n_neg} benign"
        )
    if not allow_constant and s_arr.size and np.all(s_arr == s_arr[0]):
        raise DegenerateInputError(f"{name}: scores are constant, the ROC curve is undefined")
    return y_int, s_arr
