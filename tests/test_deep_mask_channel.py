"""``deep.mask_channel``: the ROI mask as the CNN's third input channel, from the crop to
the network, Grad-CAM and ``sonomics predict``."""

from __future__ import annotations

import numpy as np
import torch

from _deep_data import write_cohort
from sonomics.deep.dataset import CropDataset, load_crops, read_crop
from sonomics.deep.gradcam import gradcam_heatmaps
from sonomics.deep.preprocess import Normaliser, build_augmentation
from sonomics.deep.train import network_batch, predict_logits


def test_the_crop_carries_the_mask_cropped_and_resized_like_the_image(tmp_path):
    cases = write_cohort(tmp_path, n=2)
    row = cases.iloc[0]
    grey = read_crop(row["image"], row["mask"], size=32)
    both = read_crop(row["image"], row["mask"], size=32, mask_channel=True)
    assert grey.shape == (32, 32) and both.shape == (2, 32, 32)
    np.testing.assert_array_equal(both[0], grey)
    # the rectangular mask fills its own bounding box: the channel is all ones
    assert both[1].min() > 0.99 and both[1].max() <= 1.0


def test_the_mask_channel_has_its_own_cache_entry(tmp_path):
    cases = write_cohort(tmp_path / "data", n=4)
    args = (list(cases.index), list(cases["image"]), list(cases["mask"]))
    grey = load_crops(*args, size=16, cache_dir=tmp_path / "cache")
    both = load_crops(*args, size=16, mask_channel=True, cache_dir=tmp_path / "cache")
    again = load_crops(*args, size=16, mask_channel=True, cache_dir=tmp_path / "cache")
    assert grey.crops.shape == (4, 16, 16) and both.crops.shape == (4, 2, 16, 16)
    np.testing.assert_array_equal(again.crops, both.crops)
    assert len(list((tmp_path / "cache").glob("crops-*.npz"))) == 2


def test_the_network_sees_image_image_mask_and_augmentation_moves_them_together():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 20, (3, 24, 24)).astype(np.float32)
    mask = np.zeros((3, 24, 24), np.float32)
    mask[:, 6:14, 4:20] = 1.0
    crops = np.stack([image, mask], axis=1)  # (n, 2, S, S)
    x = network_batch(crops, Normaliser(), torch.device("cpu"))
    assert x.shape == (3, 3, 24, 24)
    torch.testing.assert_close(x[:, 0], x[:, 1])
    torch.testing.assert_close(x[:, 2], torch.from_numpy(mask))  # the mask, unnormalised
    grey = network_batch(image, Normaliser(), torch.device("cpu"))
    torch.testing.assert_close(x[:, 0], grey[:, 0])  # the image channels as without a mask
    # the same random crop and flip for image and mask: the mask still marks the pixels
    # the lesion moved to (image bright inside the mask here)
    image[mask > 0] += 500
    torch.manual_seed(3)
    item = CropDataset(np.stack([image, mask], axis=1), np.zeros(3), Normaliser(),
                       build_augmentation(24))[0][0]
    inside = item[2] > 0.5
    assert inside.any() and item[0][inside].mean() > item[0][~inside].mean() + 1.0


def test_gradcam_takes_crops_with_a_mask_channel():
    from sonomics.deep.backbones import build_backbone

    net = build_backbone("resnet18", pretrained=False).eval()
    crops = np.random.default_rng(1).normal(size=(2, 2, 32, 32)).astype(np.float32)
    maps = gradcam_heatmaps(net, crops, Normaliser())
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    # the mask channel reaches the network: another mask, other logits
    other = crops.copy()
    other[:, 1] = 0.0
    assert not np.allclose(predict_logits(net, crops, Normaliser()),
                           predict_logits(net, other, Normaliser()))
