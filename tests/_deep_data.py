"""Tiny synthetic ultrasound-like cases for the deep-learning tests.

Malignant lesions are bright, benign ones dark, so a CNN separates them in a few steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def synthetic_crops(n: int = 32, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(n, size, size)`` crops and 0/1 labels; label 1 has a bright centre square."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    crops = rng.normal(100.0, 10.0, size=(n, size, size)).astype(np.float32)
    lo, hi = size // 4, 3 * size // 4
    crops[labels == 1, lo:hi, lo:hi] += 60.0
    crops[labels == 0, lo:hi, lo:hi] -= 60.0
    return crops, labels


def write_cohort(folder: Path, n: int = 24, shape: tuple[int, int] = (48, 64),
                 seed: int = 0, test_fraction: float = 0.35) -> pd.DataFrame:
    """PNG images + masks in ``folder``; the case table ``run_deep`` takes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        label = i % 2
        img = rng.normal(90, 12, size=shape)
        mask = np.zeros(shape, dtype=np.uint8)
        r0, c0 = rng.integers(4, 14), rng.integers(4, 24)
        h, w = rng.integers(18, 28), rng.integers(20, 34)
        mask[r0:r0 + h, c0:c0 + w] = 255
        img[mask > 0] += 70 if label else -60
        img_path, mask_path = folder / f"case{i:02d}.png", folder / f"case{i:02d}_mask.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(img_path)
        Image.fromarray(mask).save(mask_path)
        split = "test" if (i // 2) % round(1 / test_fraction) == 0 else "train"
        rows.append({"case_id": f"c{i:02d}", "patient_id": f"p{i:02d}", "image": str(img_path),
                     "mask": str(mask_path), "label": label, "split": split})
    return pd.DataFrame(rows).set_index("case_id")
