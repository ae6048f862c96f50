"""Leakage-free feature selection: the paper's chain as scikit-learn transformers."""

from sonomics.selection.pipeline import SELECTION_STEPS, build_selection_pipeline, selected_features
from sonomics.selection.selectors import (
    CorrelationFilter,
    GreedyElimination,
    ICCFilter,
    LassoSelector,
    SelectionFallbackWarning,
    TTestSelector,
    univariate_pvalues,
)

__all__ = [
    "SELECTION_STEPS",
    "CorrelationFilter",
    "GreedyElimination",
    "ICCFilter",
    "LassoSelector",
    "SelectionFallbackWarning",
    "TTestSelector",
    "build_selection_pipeline",
    "selected_features",
    "univariate_pvalues",
]
