"""Fusion (DLR): one row per case holding its handcrafted and its deep features."""

from __future__ import annotations

import pandas as pd


def fuse(handcrafted: pd.DataFrame, *deep: pd.DataFrame) -> pd.DataFrame:
    """Handcrafted features joined with deep ones, cases that have both (index case_id).

    The study fuses its training and test cases with it and ``sonomics predict`` a new
    case, so both see the same columns in the same order.
    """
    fused = handcrafted
    for part in deep:
        fused = fused.join(part, how="inner")
    return fused
