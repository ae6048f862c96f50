"""Reading, cropping and caching the cases; failures recorded, not fatal."""

from __future__ import annotations

import numpy as np
import torch

from _deep_data import write_cohort
from sonomics.deep.dataset import CropDataset, load_crops, read_crop
from sonomics.deep.preprocess import Normaliser, build_augmentation


def test_crop_follows_the_mask(tmp_path):
    table = write_cohort(tmp_path, n=2)
    crop = read_crop(table["image"].iloc[1], table["mask"].iloc[1], size=16)
    assert crop.shape == (16, 16) and crop.dtype == np.float32
    assert crop.mean() > 130  # the bright malignant lesion fills the crop


def test_failed_cases_are_recorded_and_left_out(tmp_path):
    table = write_cohort(tmp_path, n=3)
    masks = list(table["mask"])
    masks[0] = str(tmp_path / "absent.png")
    crops = load_crops(list(table.index), list(table["image"]), masks, size=16)
    assert crops.case_ids == ["c01", "c02"] and crops.crops.shape == (2, 16, 16)
    assert crops.failures[0]["case_id"] == "c00" and "not found" in crops.failures[0]["reason"]


def test_crops_are_cached_on_disk_by_content_and_settings(tmp_path):
    table = write_cohort(tmp_path / "data", n=3)
    args = (list(table.index), list(table["image"]), list(table["mask"]))
    first = load_crops(*args, size=16, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("crops-*.npz"))) == 1
    second = load_crops(*args, size=16, cache_dir=tmp_path / "cache")
    assert np.array_equal(first.crops, second.crops) and second.case_ids == first.case_ids
    load_crops(*args, size=16, margin=0.2, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("crops-*.npz"))) == 2


def test_dataset_serves_normalised_three_channel_tensors():
    crops = np.random.default_rng(0).normal(50, 5, size=(3, 16, 16)).astype(np.float32)
    ds = CropDataset(crops, np.array([0, 1, 0]), Normaliser(), build_augmentation(16))
    x, y = ds[1]
    assert x.shape == (3, 16, 16) and float(y) == 1.0
    assert abs(float(x.mean())) < 1e-4
    plain = CropDataset(crops, None, Normaliser())
    assert isinstance(plain[0], torch.Tensor)
