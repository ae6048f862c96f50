"""Image preprocessing for the CNNs, as in the paper (section 2.5).

* Crop to the minimum bounding rectangle of the ROI (``crop_margin`` = 0, the paper's
  choice). A margin (a fraction of the box size added on every side) keeps the posterior
  acoustic features below the lesion -- shadowing or enhancement -- in view.
* Resize to ``input_size`` x ``input_size`` (aspect ratio not kept, as in the paper).
* Grey replicated to 3 channels (the ImageNet trunks expect RGB); with
  ``deep.mask_channel`` the third channel carries the ROI mask instead (0/1, cropped and
  resized like the image), so the network is told where the lesion is and what shape its
  outline has, not only the rectangle around it. Crops are then ``(n, 2, S, S)`` (image,
  mask) instead of ``(n, S, S)``; every function here takes either.
* Z-score: per image (default: robust to the gain/dynamic-range settings that differ
  between scanners and operators) or with the training set's mean and SD.
* Training augmentation: random resized crop and horizontal flip; vertical flip only
  when ``vertical_flip`` is set (the paper does it; it puts shadowing above the lesion,
  which real ultrasound never shows, so it is off by default). Test images: normalisation
  only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

#: smallest standard deviation used in a z-score (a flat crop stays finite)
EPS = 1e-6


def roi_bbox(mask: np.ndarray, margin: float = 0.0) -> tuple[int, int, int, int]:
    """Bounding rectangle ``(row0, row1, col0, col1)`` (end-exclusive) of the mask's pixels.

    ``margin`` widens the box by that fraction of its height/width on every side,
    clipped to the image.
    """
    if margin < 0:
        raise ValueError(f"config key 'deep.crop_margin': must be >= 0 (got {margin})")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("mask is empty: no ROI pixel to crop around")
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dr, dc = int(round((r1 - r0) * margin)), int(round((c1 - c0) * margin))
    h, w = mask.shape
    return max(0, r0 - dr), min(h, r1 + dr), max(0, c0 - dc), min(w, c1 + dc)


def crop_to_roi(image: np.ndarray, mask: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """The image inside the ROI's bounding rectangle (plus margin), float32."""
    if image.shape != mask.shape:
        raise ValueError(f"image shape {image.shape} and mask shape {mask.shape} differ")
    r0, r1, c0, c1 = roi_bbox(mask, margin)
    return np.ascontiguousarray(image[r0:r1, c0:c1], dtype=np.float32)


def resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear (anti-aliased) resize of a 2D array to ``size`` x ``size``."""
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)
    return out[0, 0].numpy()


def image_plane(crops: np.ndarray) -> np.ndarray:
    """The grey image of crops with or without a mask channel: ``(n, S, S)``."""
    return crops if crops.ndim == 3 else crops[:, 0]


def batch_tensor(crops: np.ndarray) -> torch.Tensor:
    """A batch of crops as a float32 ``(n, C, S, S)`` tensor: grey crops ``(n, S, S)`` get
    C = 1; crops with a mask channel are already ``(n, 2, S, S)``."""
    t = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))
    return t[:, None] if t.ndim == 3 else t


class Normaliser:
    """Z-score normalisation, per image or with training-set statistics.

    ``fit`` learns ``mean_``/``std_`` from training crops when ``mode == "train_stats"``
    (nothing is learned per image); ``__call__`` normalises a ``(..., H, W)`` tensor.
    """

    def __init__(self, mode: str = "per_image") -> None:
        if mode not in ("per_image", "train_stats"):
            raise ValueError(f"config key 'deep.normalisation': must be 'per_image' or "
                             f"'train_stats' (got {mode!r})")
        self.mode = mode

    def fit(self, crops: np.ndarray) -> Normaliser:
        if self.mode == "train_stats":
            image = image_plane(crops)
            self.mean_ = float(np.mean(image, dtype=np.float64))
            self.std_ = max(float(np.std(image, dtype=np.float64)), EPS)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "per_image":
            dims = (-2, -1)
            mean = x.mean(dim=dims, keepdim=True)
            std = x.std(dim=dims, keepdim=True, unbiased=False).clamp_min(EPS)
            return (x - mean) / std
        if not hasattr(self, "mean_"):
            raise RuntimeError("Normaliser(mode='train_stats') must be fitted on training crops")
        return (x - self.mean_) / self.std_


def build_augmentation(input_size: int, *, vertical_flip: bool = False,
                       scale: tuple[float, float] = (0.7, 1.0)) -> v2.Compose:
    """Training augmentation on a ``(1, H, W)`` tensor: random resized crop + flips."""
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(input_size, scale=scale, ratio=(0.8, 1.25), antialias=True),
        v2.RandomHorizontalFlip(),
    ]
    if vertical_flip:
        steps.append(v2.RandomVerticalFlip())
    return v2.Compose(steps)


def to_network_input(crop: torch.Tensor, normaliser: Normaliser) -> torch.Tensor:
    """A ``(C, H, W)`` (or ``(N, C, H, W)``) crop as the network's 3 channels: the
    normalised grey image replicated (C = 1), or image, image, mask (C = 2)."""
    image = normaliser(crop[..., :1, :, :])
    if crop.shape[-3] == 1:
        return image.expand(*image.shape[:-3], 3, *image.shape[-2:]).contiguous()
    return torch.cat([image, image, crop[..., 1:2, :, :]], dim=-3)
