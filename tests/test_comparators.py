"""Comparator models: BI-RADS category parsing and the training-only fits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from sonomics.models.comparators import (
    birads_score,
    fit_birads,
    fit_shape_only,
    is_known_cancer,
    shape_columns,
)


@pytest.mark.parametrize(("raw", "score"), [
    ("2", 2.0), (3, 3.0), (4.0, 4.33), ("4a", 4.0), (" 4B ", 4.33), ("BI-RADS 4c", 4.67),
    ("birads5", 5.0),
])
def test_birads_categories_are_ordered(raw, score):
    assert birads_score(raw) == pytest.approx(score)


@pytest.mark.parametrize("raw", ["0", None, float("nan"), "", "not available", "4d", "7"])
def test_unusable_birads_entries_give_no_score(raw):
    assert math.isnan(birads_score(raw))


@pytest.mark.parametrize("raw", ["6", 6, 6.0, "BI-RADS 6", " birads6 "])
def test_birads_6_is_known_cancer_and_gives_no_score(raw):
    # category 6 = biopsy-proven malignancy: as a comparator score it would leak the label
    assert math.isnan(birads_score(raw)) and is_known_cancer(raw)
    assert not is_known_cancer("5") and not is_known_cancer(float("nan"))


def test_birads_model_keeps_the_category_auc():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = np.clip(np.round(3 + 1.2 * y + rng.normal(0, 1, 200)), 2, 5)
    model = fit_birads(score, y)
    prob = model.predict_proba(score.reshape(-1, 1))[:, 1]
    assert roc_auc_score(y, prob) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert model.coef_[0, 0] > 0


def test_shape_only_model_uses_only_shape_columns():
    cols = pd.Index(["original_shape2D_Area", "original_firstorder_Mean",
                     "wavelet-LH_shape2D_x", "original_shape2D_Perimeter"])
    assert shape_columns(cols) == ["original_shape2D_Area", "original_shape2D_Perimeter"]
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["original_shape2D_Area",
                                                          "original_shape2D_Perimeter"])
    y = (X["original_shape2D_Area"] + rng.normal(0, .5, 60) > 0).astype(int).to_numpy()
    model = fit_shape_only(X, y)
    assert roc_auc_score(y, model.predict_proba(X)[:, 1]) > 0.8


def test_birads_cannot_be_comparator_and_predictor_at_once():
    from sonomics.config import ConfigError, StudyConfig

    with pytest.raises(ConfigError, match="BI-RADS comparator .* and a clinical predictor"):
        StudyConfig.from_dict({"data": {"categorical": ["birads"]}})
    cfg = StudyConfig.from_dict({"data": {"categorical": ["birads"]},
                                 "comparators": {"birads": None}})
    assert cfg.data.categorical == ["birads"]
