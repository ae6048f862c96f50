"""Pick named columns: the first step of every stored model, so a model takes a whole table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


class ColumnSelector(TransformerMixin, BaseEstimator):
    """Keep ``columns`` of a DataFrame, in that order (a missing column is a clear error).

    A fitted model stores the exact feature names it was trained on; scoring a new case
    then needs no separate list of names that could drift from the model.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]})
    >>> ColumnSelector(["c", "a"]).fit(frame).transform(frame).columns.tolist()
    ['c', 'a']
    """

    def __init__(self, columns: list[str] | None = None) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> ColumnSelector:
        self.columns_ = list(self.columns if self.columns is not None else X.columns)
        self._check(X)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "columns_")
        self._check(X)
        return X[self.columns_]

    def _check(self, X: Any) -> None:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("ColumnSelector: X must be a pandas DataFrame with named columns")
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise ValueError(f"column(s) {missing[:5]} missing from the input "
                             f"({len(missing)} missing)")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return np.asarray(self.columns_, dtype=object)
