"""Deep features: GAP / feature-map extraction and PCA fitted on training cases only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from _deep_data import synthetic_crops
from sonomics.deep.backbones import build_backbone
from sonomics.deep.features import CappedPCA, deep_feature_table, extract_deep_features
from sonomics.deep.preprocess import Normaliser


def test_capped_pca_follows_the_sklearn_contract():
    check_estimator(CappedPCA(n_components=2))


def test_components_are_capped_by_the_training_cases():
    X = np.random.default_rng(0).normal(size=(10, 40))
    pca = CappedPCA(n_components=512).fit(X)
    assert pca.n_components_ == 9 and pca.capped_
    pca = CappedPCA(n_components=5).fit(X)
    assert pca.n_components_ == 5 and not pca.capped_
    with pytest.raises(ValueError, match="deep.pca_components"):
        CappedPCA(n_components=0).fit(X)


def test_pca_is_fitted_on_training_rows_only():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(30, 20))
    train = np.arange(30) < 20
    table, pca = deep_feature_table([f"c{i}" for i in range(30)], feats, train, n_components=8)
    assert np.allclose(pca.pca_.mean_, feats[train].mean(axis=0))
    shifted = feats.copy()
    shifted[~train] += 100.0  # test cases changed: training rows must not move
    table2, _ = deep_feature_table([f"c{i}" for i in range(30)], shifted, train, n_components=8)
    assert np.allclose(table.loc[[f"c{i}" for i in range(20)]],
                       table2.loc[[f"c{i}" for i in range(20)]], atol=1e-4)
    assert list(table.columns[:2]) == ["deep_pc001", "deep_pc002"]
    assert table.index.name == "case_id" and table.shape == (30, 8)


def test_gap_and_feature_map_extraction_in_batches():
    crops, _ = synthetic_crops(n=5, size=32)
    net = build_backbone("resnet18", pretrained=False)
    gap = extract_deep_features(net, crops, Normaliser(), batch_size=2)
    fmap = extract_deep_features(net, crops, Normaliser(), feature_map=True, batch_size=2)
    assert gap.shape == (5, 512) and fmap.shape == (5, 512 * 1 * 1)
    whole = extract_deep_features(net, crops, Normaliser(), batch_size=8)
    assert np.allclose(gap, whole, atol=1e-5)
