"""Row order of the paper's performance tables: every training row, then testing, then
external rows (rows are named ``<model>-training``, ``<model>-training (out-of-fold)``,
``<model>-testing``, ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SET_ORDER = {"training": 0, "testing": 1, "external": 2}
#: the set a row name ends with: "-training", "-training (out-of-fold)", "-testing", ...
SET_PATTERN = r"-(training|testing|external)(?: \([^)]*\))?$"


def rows_by_set(frame: pd.DataFrame, column: str = "Model") -> pd.DataFrame:
    """``frame`` with its rows grouped by set (stable within a set), index reset."""
    sets = frame[column].astype(str).str.extract(SET_PATTERN, expand=False)
    rank = sets.map(SET_ORDER).fillna(3)
    return frame.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
