"""ROI crop, resize, z-score normalisation and the augmentation flags."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from sonomics.deep.preprocess import (
    Normaliser,
    build_augmentation,
    crop_to_roi,
    resize,
    roi_bbox,
    to_network_input,
)


def _mask(shape=(50, 60), box=(10, 30, 20, 40)):
    m = np.zeros(shape, dtype=bool)
    m[box[0]:box[1], box[2]:box[3]] = True
    return m


def test_bbox_is_the_minimum_rectangle_by_default():
    assert roi_bbox(_mask()) == (10, 30, 20, 40)


def test_margin_widens_by_a_fraction_and_clips_to_the_image():
    assert roi_bbox(_mask(), margin=0.25) == (5, 35, 15, 45)
    assert roi_bbox(_mask(), margin=1.0) == (0, 50, 0, 60)


def test_crop_keeps_only_the_roi_rectangle():
    image = np.arange(50 * 60, dtype=np.float32).reshape(50, 60)
    crop = crop_to_roi(image, _mask())
    assert crop.shape == (20, 20) and crop[0, 0] == image[10, 20]


def test_empty_mask_and_bad_margin_are_refused():
    with pytest.raises(ValueError, match="empty"):
        roi_bbox(np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match="deep.crop_margin"):
        roi_bbox(_mask(), margin=-0.1)


def test_resize_to_a_square_input():
    out = resize(np.ones((20, 37), np.float32) * 3.0, 16)
    assert out.shape == (16, 16) and np.allclose(out, 3.0)


def test_per_image_zscore_gives_zero_mean_unit_sd_and_three_channels():
    x = torch.rand(1, 16, 16) * 50 + 10
    y = to_network_input(x, Normaliser("per_image"))
    assert y.shape == (3, 16, 16)
    assert abs(float(y.mean())) < 1e-5 and abs(float(y[0].std(unbiased=False)) - 1) < 1e-4
    assert torch.equal(y[0], y[2])


def test_train_stats_uses_training_statistics_only():
    train = np.full((4, 8, 8), 10.0, np.float32)
    train[:2] = 30.0
    norm = Normaliser("train_stats").fit(train)
    assert norm.mean_ == pytest.approx(20.0) and norm.std_ == pytest.approx(10.0)
    out = norm(torch.full((1, 8, 8), 40.0))
    assert torch.allclose(out, torch.full_like(out, 2.0))
    with pytest.raises(RuntimeError, match="fitted"):
        Normaliser("train_stats")(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="deep.normalisation"):
        Normaliser("minmax")


def test_vertical_flip_only_when_asked():
    kinds = [type(t) for t in build_augmentation(32).transforms]
    assert v2.RandomVerticalFlip not in kinds
    assert v2.RandomResizedCrop in kinds and v2.RandomHorizontalFlip in kinds
    kinds = [type(t) for t in build_augmentation(32, vertical_flip=True).transforms]
    assert v2.RandomVerticalFlip in kinds


def test_augmentation_keeps_the_input_size_and_varies():
    torch.manual_seed(0)
    aug = build_augmentation(24)
    x = torch.rand(1, 24, 24)
    outs = [aug(x) for _ in range(4)]
    assert all(o.shape == (1, 24, 24) for o in outs)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])
