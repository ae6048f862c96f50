"""The paper's selection chain as one scikit-learn Pipeline built from the config."""

from __future__ import annotations

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sonomics.config import SelectionConfig
from sonomics.selection.harmonisation import SiteHarmoniser
from sonomics.selection.selectors import (
    CorrelationFilter,
    GreedyElimination,
    ICCFilter,
    LassoSelector,
    TTestSelector,
)
from sonomics.system import available_cores

SELECTION_STEPS = ("icc", "harmonise", "zscore", "univariate", "correlation", "greedy", "lasso")


def build_selection_pipeline(
    cfg: SelectionConfig | None = None,
    icc_table=None,
    *,
    icc_threshold: float = 0.85,
    random_state: int = 42,
    harmoniser: SiteHarmoniser | None = None,
) -> Pipeline:
    """ICC filter -> [ComBat by site] -> z-score -> t-test -> |r| filter -> greedy
    elimination -> LASSO.

    The pipeline is unfitted: fit it on training data only (it is re-fitted in
    every CV fold when placed in front of a classifier). Output is a pandas
    DataFrame, so selected feature names travel with the data.

    Args:
        cfg: ``StudyConfig.selection`` (paper defaults when ``None``).
        icc_table: per-feature ICC (``feature``, ``icc``); ``None`` skips the filter.
        icc_threshold: ``StudyConfig.radiomics.icc_threshold``.
        random_state: seed of the LASSO folds.
        harmoniser: an unfitted :class:`SiteHarmoniser` (``harmonisation.enabled``), fitted
            like every other step on the training rows of each fit.
    """
    cfg = cfg or SelectionConfig()
    pipe = Pipeline([
        ("icc", ICCFilter(icc_table=icc_table, threshold=icc_threshold)),
        *([("harmonise", harmoniser)] if harmoniser is not None else []),
        ("zscore", StandardScaler()),
        ("univariate", TTestSelector(test=cfg.univariate_test, p_threshold=cfg.p_threshold)),
        ("correlation", CorrelationFilter(threshold=cfg.corr_threshold,
                                          test=cfg.univariate_test)),
        ("greedy", GreedyElimination(max_features=cfg.greedy_max_features,
                                     mean_r=cfg.greedy_mean_r)),
        # the LASSO's CV paths are the chain's slowest part: its folds run on threads
        ("lasso", LassoSelector(cv=cfg.lasso_folds, random_state=random_state,
                                n_jobs=available_cores())),
    ])
    return pipe.set_output(transform="pandas")


def selected_features(pipe: Pipeline) -> list[str]:
    """Names of the features a fitted selection pipeline passes on."""
    return [str(c) for c in pipe.get_feature_names_out()]
