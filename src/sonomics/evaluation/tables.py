"""Row order of the paper's performance tables: every training row, then testing, then
external rows (rows are named ``<model>-training``, ``<model>-testing``, ...)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SET_ORDER = {"training": 0, "testing": 1, "external": 2}


def rows_by_set(frame: pd.DataFrame, column: str = "Model") -> pd.DataFrame:
    """``frame`` with its rows grouped by set (stable within a set), index reset."""
    rank = frame[column].astype(str).str.rsplit("-", n=1).str[-1].map(SET_ORDER).fillna(3)
    return frame.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
