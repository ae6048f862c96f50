"""Small synthetic ultrasound-like cases for the radiomics tests (64 x 64 PNGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: a reduced parameter set: fast, but with a filter, shape and texture classes
SMALL_PARAMS = {
    "setting": {"binWidth": 25, "label": 1, "force2D": False, "additionalInfo": True},
    "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}},
    "featureClass": {"shape2D": None, "firstorder": None, "glcm": None, "glszm": None},
}


def lesion_arrays(seed: int, size: int = 64, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A speckled uint8 image (full 0-255 range) and a boolean elliptical lesion mask.

    ``scale`` multiplies the lesion's semi-axes (about 10-20 px at 1.0).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    cy, cx = size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)
    ry, rx = scale * rng.uniform(10, 16), scale * rng.uniform(12, 20)
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    speckle = rng.gamma(2.0, 40.0, size=(size, size))
    image = np.where(mask, 0.6 * speckle + 30, speckle + 60)
    image = np.clip(image, 0, 255)
    image[0, 0] = 255  # the full range, so that uint8 bin edges would overflow
    image[mask.nonzero()[0][0], mask.nonzero()[1][0]] = 255
    return image.astype(np.uint8), mask


def write_case(folder: Path, case_id: str, seed: int, scale: float = 1.0) -> tuple[Path, Path]:
    """Write ``<case_id>.png`` and ``<case_id>_mask.png`` (0/255); return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    image, mask = lesion_arrays(seed, scale=scale)
    img_path, mask_path = folder / f"{case_id}.png", folder / f"{case_id}_mask.png"
    Image.fromarray(image).save(img_path)
    Image.fromarray((mask * 255).astype(np.uint8)).save(mask_path)
    return img_path, mask_path
