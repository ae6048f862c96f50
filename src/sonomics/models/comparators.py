"""Comparator models: what the radiologist's BI-RADS verdict and the mask outline alone achieve.

They are not part of the paper's nomogram; they answer a reader's first two questions
about any image model: *does it beat the radiologist's own category?* and *does it add
anything to the lesion's outline?* (a mask drawn by a radiologist already encodes much of
the BI-RADS shape/margin assessment). Both are fitted on training cases only, like every
other model, and their cut-offs come from the training set.

* **BI-RADS** — the assessment category as an ordinal score (2 < 3 < 4a < 4b < 4c < 5),
  mapped to a probability by a univariable logistic regression fitted on training cases.
  The mapping is monotone, so its AUC is that of the raw category.
* **Shape only** — the nine 2D shape features of the reader-1 mask (pyradiomics
  ``original_shape2D_*``), z-scored and fed to an L2 logistic regression.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["BIRADS_SCORES", "SHAPE_PREFIX", "birads_score", "fit_birads", "fit_shape_only",
           "shape_columns"]

#: ordinal score of each BI-RADS assessment category (ACR 5th edition); a bare "4"
#: (datasets that do not subdivide it) sits in the middle of 4a-4c.
BIRADS_SCORES: dict[str, float] = {
    "0": math.nan, "1": 1.0, "2": 2.0, "3": 3.0, "4a": 4.0, "4": 4.33, "4b": 4.33,
    "4c": 4.67, "5": 5.0, "6": math.nan,
}
#: BI-RADS 6 means "biopsy-proven malignancy": as a comparator score it would leak the label
KNOWN_CANCER = "6"
SHAPE_PREFIX = "original_shape2D_"


def birads_score(value: object) -> float:
    """The ordinal score of one BI-RADS entry (``"4B"``, ``4``, ``"BI-RADS 4a"``), NaN if none.

    Category 0 (incomplete) and 6 (known, biopsy-proven cancer) carry no diagnostic ranking
    of an unknown lesion: both map to NaN (a category 6 would hand the comparator the
    label). :func:`is_known_cancer` tells which entries were category 6, to count them.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        text = f"{float(value):g}"
    else:
        text = re.sub(r"^(bi-?rads)?\s*", "", str(value).strip().lower())
    return BIRADS_SCORES.get(text, math.nan)


def is_known_cancer(value: object) -> bool:
    """True for a BI-RADS 6 entry (removed from the comparator; see :func:`birads_score`)."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return not math.isnan(float(value)) and f"{float(value):g}" == KNOWN_CANCER
    return re.sub(r"^(bi-?rads)?\s*", "", str(value).strip().lower()) == KNOWN_CANCER


def fit_birads(score: np.ndarray | pd.DataFrame, y: np.ndarray) -> LogisticRegression:
    """Univariable logistic regression of malignancy on the BI-RADS score (training cases).

    ``score`` is a vector or a one-column table (then predict with the same column name).
    """
    X = score if isinstance(score, pd.DataFrame) else np.asarray(score, float).reshape(-1, 1)
    return LogisticRegression(C=np.inf).fit(X, np.asarray(y, dtype=int))


def shape_columns(columns: pd.Index) -> list[str]:
    """The 2D shape feature columns of a radiomics table (nine with pyradiomics' shape2D)."""
    return [str(c) for c in columns if str(c).startswith(SHAPE_PREFIX)]


def fit_shape_only(X: pd.DataFrame, y: np.ndarray, random_state: int = 0) -> Pipeline:
    """z-score + L2 logistic regression on the shape features (training cases)."""
    model = make_pipeline(StandardScaler(),
                          LogisticRegression(max_iter=5000, random_state=random_state))
    return model.fit(X, np.asarray(y, dtype=int))
