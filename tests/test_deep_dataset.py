"""Reading, cropping and caching the cases; failures recorded, not fatal."""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

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


def test_mask_edited_in_place_with_its_size_and_mtime_kept_is_cropped_again(tmp_path):
    table = write_cohort(tmp_path / "data", n=3)
    args = (list(table.index), list(table["image"]), list(table["mask"]))
    mask_path = table["mask"].iloc[0]
    shape = np.asarray(Image.open(mask_path)).shape

    def write_mask(rows: slice, cols: slice) -> None:
        mask = np.zeros(shape, dtype=np.uint8)
        mask[rows, cols] = 255
        Image.fromarray(mask).save(mask_path, compress_level=0)  # size fixed by the shape

    write_mask(slice(4, 20), slice(4, 20))
    first = load_crops(*args, size=16, cache_dir=tmp_path / "cache")
    before = os.stat(mask_path)
    write_mask(slice(20, 44), slice(30, 60))  # another ROI, same file size ...
    os.utime(mask_path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and same mtime
    after = os.stat(mask_path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    second = load_crops(*args, size=16, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("crops-*.npz"))) == 2
    fresh = read_crop(table["image"].iloc[0], mask_path, size=16)
    assert np.array_equal(second.crops[0], fresh)
    assert not np.array_equal(second.crops[0], first.crops[0])
    assert np.array_equal(second.crops[1:], first.crops[1:])


def test_dataset_serves_normalised_three_channel_tensors():
    crops = np.random.default_rng(0).normal(50, 5, size=(3, 16, 16)).astype(np.float32)
    ds = CropDataset(crops, np.array([0, 1, 0]), Normaliser(), build_augmentation(16))
    x, y = ds[1]
    assert x.shape == (3, 16, 16) and float(y) == 1.0
    assert abs(float(x.mean())) < 1e-4
    plain = CropDataset(crops, None, Normaliser())
    assert isinstance(plain[0], torch.Tensor)
