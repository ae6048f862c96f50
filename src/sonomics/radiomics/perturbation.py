"""Perturbation pseudo-readers: a mask (and image) changed the way a second reader might.

Recipes are short strings so that they travel inside an
:class:`~sonomics.radiomics.extract.ExtractionTask` and its cache key:
``"erode:1"``, ``"dilate:2"``, ``"jitter:2:7"`` (amplitude px, seed),
``"rotate:3:7"`` (max degrees, seed), ``"noise:0.02:7"`` (SD as a fraction of the
ROI intensity SD, seed); several are joined with ``"+"``. The ICC these pseudo-readers
give is a *perturbation* ICC (see :mod:`sonomics.radiomics.reproducibility`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

#: pseudo-readers used when a cohort has one reader: name -> recipe
DEFAULT_PERTURBATIONS: dict[str, str] = {
    "perturb-erode1": "erode:1",
    "perturb-dilate1": "dilate:1",
    "perturb-jitter2": "jitter:2:11",
}

#: optional, stronger pseudo-readers (rotation and noise change the image as well)
EXTRA_PERTURBATIONS: dict[str, str] = {
    "perturb-erode2": "erode:2",
    "perturb-dilate2": "dilate:2",
    "perturb-rotate3": "rotate:3:13+jitter:1:17",
    "perturb-noise": "noise:0.05:19",
}


class PerturbationError(ValueError):
    """A perturbation recipe cannot be parsed or leaves no ROI."""


# --------------------------------------------------------------------------- perturbations
def _erode(image: np.ndarray, mask: np.ndarray, args: list[str]) -> tuple[np.ndarray, np.ndarray]:
    px = int(args[0]) if args else 1
    return image, ndimage.binary_erosion(mask, structure=_disk(1), iterations=px)


def _dilate(image: np.ndarray, mask: np.ndarray, args: list[str]) -> tuple[np.ndarray, np.ndarray]:
    px = int(args[0]) if args else 1
    return image, ndimage.binary_dilation(mask, structure=_disk(1), iterations=px)


def _jitter(image: np.ndarray, mask: np.ndarray, args: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Move the contour in and out by up to ``amplitude`` px along a smooth random field."""
    amplitude = float(args[0]) if args else 2.0
    rng = np.random.default_rng(int(args[1]) if len(args) > 1 else 0)
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    signed = np.where(mask, inside - 0.5, 0.5 - outside)
    noise = ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma=4.0)
    scale = np.abs(noise).max()
    noise = noise / scale if scale > 0 else noise
    return image, signed + amplitude * noise > 0


def _rotate(image: np.ndarray, mask: np.ndarray, args: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rotate image and mask together by a random angle in [-max, max] degrees."""
    max_deg = float(args[0]) if args else 3.0
    rng = np.random.default_rng(int(args[1]) if len(args) > 1 else 0)
    angle = float(rng.uniform(-max_deg, max_deg))
    rotated = ndimage.rotate(image, angle, reshape=False, order=1, mode="nearest")
    rotated_mask = ndimage.rotate(mask.astype(np.float32), angle, reshape=False, order=1) > 0.5
    return rotated.astype(np.float32), rotated_mask


def _noise(image: np.ndarray, mask: np.ndarray, args: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise with SD = fraction x the ROI intensity SD."""
    fraction = float(args[0]) if args else 0.05
    rng = np.random.default_rng(int(args[1]) if len(args) > 1 else 0)
    sd = float(image[mask].std()) if mask.any() else float(image.std())
    noisy = image + rng.normal(0.0, fraction * sd, size=image.shape)
    return noisy.astype(np.float32), mask


PERTURBATIONS: dict[str, Callable[[np.ndarray, np.ndarray, list[str]],
                                  tuple[np.ndarray, np.ndarray]]] = {
    "erode": _erode, "dilate": _dilate, "jitter": _jitter, "rotate": _rotate, "noise": _noise,
}


def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def apply_perturbation(image: np.ndarray, mask: np.ndarray,
                       recipe: str) -> tuple[np.ndarray, np.ndarray]:
    """Apply a recipe such as ``"erode:1"`` or ``"rotate:3:13+jitter:1:17"``.

    Raises:
        PerturbationError: unknown step, bad argument, or the perturbed ROI is empty.
    """
    mask = np.asarray(mask, dtype=bool)
    for step in recipe.split("+"):
        name, *args = step.strip().split(":")
        if name not in PERTURBATIONS:
            raise PerturbationError(f"unknown perturbation '{name}' in '{recipe}'; "
                                    f"allowed: {sorted(PERTURBATIONS)}")
        try:
            image, mask = PERTURBATIONS[name](image, mask, args)
        except ValueError as exc:
            raise PerturbationError(f"bad arguments in perturbation '{step}': {exc}") from None
    if not mask.any():
        raise PerturbationError(f"perturbation '{recipe}' leaves an empty ROI")
    return image, mask
