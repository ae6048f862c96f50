"""Reader reproducibility of radiomic features: ICC tables and perturbation pseudo-readers.

Two sources of "raters" feed the same ICC computation:

* **Inter-reader ICC** (the paper's design): features from reader 1's and
  reader 2's masks of the same images.
* **Perturbation ICC**, when a cohort has one reader only: pseudo-readers made
  from the same image by eroding/dilating the mask by 1-2 px, jittering its
  contour at random (and, optionally, a slight rotation or added noise). It
  measures robustness to small segmentation changes, NOT agreement between two
  observers; every output calls it "perturbation ICC" so nobody mistakes one for
  the other (Zwanenburg et al., Sci. Rep. 2019, proposed this scheme).

ICC is computed for every feature at once by
:func:`sonomics.evaluation.icc.icc_vectorised` (ANOVA mean squares vectorised
over features; forms ICC1, ICC2, ICC3 and the average-measure ICC1k/2k/3k, as in
psych::ICC). The default form is ICC(2,1): two-way random effects, absolute
agreement, single rater.

Perturbation recipes are short strings so that they travel inside an
:class:`~sonomics.radiomics.extract.ExtractionTask` and its cache key:
``"erode:1"``, ``"dilate:2"``, ``"jitter:2:7"`` (amplitude px, seed),
``"rotate:3:7"`` (max degrees, seed), ``"noise:0.02:7"`` (SD as a fraction of the
ROI intensity SD, seed); several are joined with ``"+"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import ndimage

from sonomics.radiomics.extract import ExtractionTask

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


def perturbation_tasks(tasks: Iterable[ExtractionTask],
                       perturbations: Mapping[str, str] | None = None) -> list[ExtractionTask]:
    """Pseudo-reader copies of each task, one per perturbation (reader = its name)."""
    perturbations = DEFAULT_PERTURBATIONS if perturbations is None else perturbations
    return [replace(task, reader=name, perturbation=recipe)
            for task in tasks for name, recipe in perturbations.items()]


# --------------------------------------------------------------------------- ICC
def ratings_cube(tables: Sequence[pd.DataFrame]) -> tuple[np.ndarray, list[str], list[str]]:
    """Stack per-rater feature tables (index case_id) into (n_cases, k_raters, n_features).

    Only cases and features present (and finite) in every table are kept.
    """
    if len(tables) < 2:
        raise ValueError("ICC needs at least two raters (feature tables)")
    cases = tables[0].index
    features = tables[0].columns
    for t in tables[1:]:
        cases = cases.intersection(t.index, sort=False)
        features = features.intersection(t.columns, sort=False)
    cube = np.stack([t.loc[cases, features].to_numpy(dtype=float) for t in tables], axis=1)
    finite_cases = np.isfinite(cube).all(axis=(1, 2))
    cube = cube[finite_cases]
    return cube, [str(c) for c in cases[finite_cases]], [str(f) for f in features]


def icc_table(tables: Mapping[str, pd.DataFrame], *, form: str = "ICC2", alpha: float = 0.05,
              threshold: float = 0.85, kind: str = "inter-reader") -> pd.DataFrame:
    """Per-feature ICC of several raters' feature tables.

    Args:
        tables: rater name -> features (index case_id, one column per feature).
        form: ICC1, ICC2, ICC3, ICC1k, ICC2k or ICC3k (psych::ICC naming).
        alpha: 1 - confidence level of the bounds.
        threshold: features with ICC >= threshold are marked ``keep``.
        kind: "inter-reader" or "perturbation" (written into every row).

    Returns:
        One row per feature: feature, icc, lower, upper, form, kind, raters, n_cases, keep.
        Constant features have ICC NaN and are not kept.
    """
    from sonomics.evaluation.icc import icc_vectorised

    cube, cases, features = ratings_cube(list(tables.values()))
    if len(cases) < 3:
        raise ValueError(f"ICC needs at least 3 cases rated by every rater, got {len(cases)}")
    with np.errstate(divide="ignore", invalid="ignore"):
        icc, lower, upper = icc_vectorised(cube, form=form, alpha=alpha)
    icc = np.asarray(icc, dtype=float)
    out = pd.DataFrame({
        "feature": features,
        "icc": icc,
        "lower": np.asarray(lower, dtype=float),
        "upper": np.asarray(upper, dtype=float),
    })
    out["form"] = form
    out["kind"] = kind
    out["raters"] = " vs ".join(tables)
    out["n_cases"] = len(cases)
    out["keep"] = np.nan_to_num(icc, nan=-np.inf) >= threshold
    return out
