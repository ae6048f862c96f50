"""Datasets for the CNNs: ROI crops read once, cached, then served as tensors.

Reading and cropping an ultrasound PNG costs far more than augmenting a 224-px crop, so
every image is read once with :func:`sonomics.data.images.read_image` /
:func:`~sonomics.data.images.read_mask`, cropped to its ROI rectangle, resized to the
input size and kept in one ``float32`` array (``N x S x S``; 1,000 cases at 224 px are
200 MB). With ``cache_dir`` the array is also stored on disk, keyed by the files' paths
and CONTENT (SHA-256 of the image and mask bytes) and the crop settings, so a second run
(or a resumed one) skips the cropping, while an edited mask or image -- even one whose
size and modification time were kept -- is cropped again. A case that cannot be read is
recorded (case id, stage, reason) and left out; the others go on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sonomics.data.images import MASK_SEPARATOR, ImageReadError, read_image, read_mask
from sonomics.deep.preprocess import Normaliser, crop_to_roi, resize, to_network_input
from sonomics.io import atomic_path, atomic_write_text, sha256_file, stable_hash

log = logging.getLogger(__name__)


@dataclass
class CropSet:
    """ROI crops of the readable cases and the cases that failed."""

    case_ids: list[str]
    crops: np.ndarray  # (n, size, size) float32 raw intensities; (n, 2, size, size) + mask
    failures: list[dict[str, str]] = field(default_factory=list)


def _fingerprint(case_ids: Sequence[str], images: Sequence[str], masks: Sequence[str],
                 size: int, margin: float, mask_label: int | None, mask_channel: bool) -> str:
    """Cache key of a crop set: settings, and each case's paths with their files' SHA-256."""
    digests: dict[str, str] = {}  # a file named twice (a shared mask) is read once

    def digest(path: str) -> str:
        if path not in digests:
            try:
                digests[path] = sha256_file(path)
            except OSError:
                digests[path] = "missing"
        return digests[path]

    cases = [[cid, [[p, digest(p)] for p in [str(img), *str(msk).split(MASK_SEPARATOR)]]]
             for cid, img, msk in zip(case_ids, images, masks, strict=True)]
    settings = {"size": size, "margin": margin, "mask_label": mask_label, "version": 2}
    if mask_channel:  # keys of grey-only crop sets stay what they were
        settings["mask_channel"] = True
    return stable_hash({**settings, "cases": cases})[:20]


def read_crop(image_path: str | Path, mask_path: str | Path, *, size: int, margin: float = 0.0,
              mask_label: int | None = None, mask_channel: bool = False) -> np.ndarray:
    """One case: read image and mask, crop to the ROI rectangle, resize to ``size``:
    ``(size, size)``, or ``(2, size, size)`` (image, mask in [0, 1]) with ``mask_channel``."""
    image = read_image(image_path).array
    mask = read_mask(mask_path, mask_label)
    if image.shape != mask.shape:
        raise ImageReadError(f"image {image.shape} and mask {mask.shape} sizes differ")
    if not mask.any():
        raise ImageReadError("mask has no ROI pixel")
    crop = resize(crop_to_roi(image, mask, margin), size)
    if not mask_channel:
        return crop
    return np.stack([crop, resize(crop_to_roi(mask.astype(np.float32), mask, margin), size)])


def load_crops(case_ids: Sequence[str], images: Sequence[str], masks: Sequence[str], *,
               size: int, margin: float = 0.0, mask_label: int | None = None,
               mask_channel: bool = False, cache_dir: str | Path | None = None) -> CropSet:
    """ROI crops for every case (with a mask channel when asked), read from ``cache_dir``
    when the same inputs were seen."""
    case_ids = [str(c) for c in case_ids]
    cache_file = None
    if cache_dir is not None:
        key = _fingerprint(case_ids, images, masks, size, margin, mask_label, mask_channel)
        cache_file = Path(cache_dir) / f"crops-{key}.npz"
        if cache_file.is_file():
            with np.load(cache_file, allow_pickle=False) as data:
                failures = json.loads(str(data["failures"]))
                return CropSet([str(c) for c in data["case_ids"]], data["crops"], failures)
    kept, arrays, failures = [], [], []
    for cid, img, msk in zip(case_ids, images, masks, strict=True):
        try:
            arrays.append(read_crop(img, msk, size=size, margin=margin, mask_label=mask_label,
                                    mask_channel=mask_channel))
            kept.append(cid)
        except (ImageReadError, ValueError) as exc:
            log.warning("case %s left out of deep learning: %s", cid, exc)
            failures.append({"case_id": cid, "stage": "deep-crop", "reason": str(exc)})
    empty = (0, 2, size, size) if mask_channel else (0, size, size)
    crops = np.stack(arrays).astype(np.float32) if arrays else np.zeros(empty, np.float32)
    result = CropSet(kept, crops, failures)
    if cache_file is not None:
        with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, case_ids=np.array(kept, dtype=str), crops=crops,
                     failures=np.array(json.dumps(failures)))
        atomic_write_text(cache_file.with_suffix(".json"),
                          json.dumps({"n": len(kept), "size": size, "margin": margin}))
    return result


class CropDataset(Dataset):
    """In-memory crops served as normalised 3-channel tensors with their labels.

    Args:
        crops: ``(n, S, S)`` float32 raw crops, or ``(n, 2, S, S)`` with a mask channel.
        labels: ``(n,)`` 0/1 labels (``None`` for unlabelled inference).
        normaliser: a (fitted) :class:`~sonomics.deep.preprocess.Normaliser`.
        augment: a transform on ``(1, S, S)`` tensors, or ``None`` (test images).
    """

    def __init__(self, crops: np.ndarray, labels: np.ndarray | None, normaliser: Normaliser,
                 augment=None) -> None:
        self.crops = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels),
                                                                  dtype=torch.float32)
        self.normaliser = normaliser
        self.augment = augment

    def __len__(self) -> int:
        return self.crops.shape[0]

    def __getitem__(self, index: int):
        x = self.crops[index]
        x = x[None] if x.ndim == 2 else x  # (C, S, S): the augmentation moves every channel
        if self.augment is not None:
            x = self.augment(x)
        x = to_network_input(x, self.normaliser)
        if self.labels is None:
            return x
        return x, self.labels[index]
