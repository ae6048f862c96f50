"""Grad-CAM on DenseNet121 (in-place ReLU handled) and the Figure 3 case choice."""

from __future__ import annotations

import numpy as np

from _deep_data import synthetic_crops
from sonomics.deep.backbones import build_backbone
from sonomics.deep.gradcam import gradcam_figure, gradcam_heatmaps, representative_cases
from sonomics.deep.preprocess import Normaliser


def test_gradcam_runs_on_densenet121_and_returns_a_heatmap():
    crops, _ = synthetic_crops(n=2, size=64)
    net = build_backbone("densenet121", pretrained=False)
    maps = gradcam_heatmaps(net, crops, Normaliser(), categories=np.array([1, 0]))
    assert maps.shape == (2, 64, 64)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1


def test_representative_case_is_the_median_of_each_outcome():
    y = np.array([1, 1, 1, 0, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.6, 0.3])
    chosen = representative_cases(y, s, cutoff=0.5)
    assert chosen == {"TP": 1, "FP": 5, "TN": 3, "FN": 6}


def test_figure3_png_for_the_outcomes_present(tmp_path):
    crops, y = synthetic_crops(n=4, size=32)
    net = build_backbone("resnet18", pretrained=False)
    score = np.array([0.2, 0.9, 0.7, 0.4])
    cases = gradcam_figure(net, crops, Normaliser(), y, score, 0.5, tmp_path / "fig3.png",
                           case_ids=["a", "b", "c", "d"])
    assert cases == {"TP": "b", "FP": "c", "TN": "a", "FN": "d"}
    assert (tmp_path / "fig3.png").read_bytes()[:4] == b"\x89PNG"
