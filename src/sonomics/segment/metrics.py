"""Agreement between two masks: Dice, IoU and the 95th-percentile Hausdorff distance.

HD95 is MONAI's ``compute_hausdorff_distance(percentile=95)``: the boundary pixels of each
mask, the distance from each to the nearest boundary pixel of the other (in mm with the
pixel spacing), the 95th percentile of each direction, the larger of the two.
"""

from __future__ import annotations

import warnings

import numpy as np


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def hd95(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float] = (1.0, 1.0)) -> float:
    """95th-percentile symmetric Hausdorff distance between the masks' boundaries (mm when
    ``spacing`` is in mm; NaN when either mask is empty), computed by MONAI."""
    import torch
    from monai.metrics import compute_hausdorff_distance

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if not a.any() or not b.any():
        return float("nan")
    with warnings.catch_warnings():  # MONAI 1.6 deprecates an argument it passes itself
        warnings.simplefilter("ignore", FutureWarning)
        value = compute_hausdorff_distance(torch.from_numpy(a)[None, None].float(),
                                           torch.from_numpy(b)[None, None].float(),
                                           percentile=95, spacing=tuple(map(float, spacing)))
    return float(value.item())
