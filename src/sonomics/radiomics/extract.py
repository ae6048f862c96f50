"""Handcrafted radiomics of one case: image + mask in, feature dict + diagnostics dict out.

This is the unit of work the engine distributes; it has no knowledge of cohorts,
caches or processes. Choices, documented for users:

* The image is read by :func:`sonomics.data.images.read_image` as ``float32``.
  With numpy 2, pyradiomics computes wrong texture features for ``uint8`` input
  (its bin edges ``max + 2 * binWidth`` overflow and wrap), so an unsigned 8-bit
  array never reaches pyradiomics (``tests/test_radiomics_uint8.py`` keeps this).
* The 2D array becomes a 2D SimpleITK image with ``force2D: false``: pyradiomics
  then runs 2D filters and computes ``shape2D``. ``force2D: true`` on a 2D array
  would run 1D wavelets.
* Spacing: filters and texture matrices see unit spacing when
  ``sigma_in_pixels`` is true (the default), so LoG sigma is in pixels whatever
  the scanner's pixel size. Shape features are computed in a second,
  cheap pass with the real spacing when it is known (task spacing, or a
  DICOM/NIfTI header), so areas are in mm^2 and lengths in mm; the unit is
  recorded in ``diagnostics_sonomics_shape_unit``. With ``sigma_in_pixels``
  false, every feature sees the real spacing (LoG sigma in mm).
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sonomics.data.images import read_image, read_mask
from sonomics.radiomics.params import SHAPE_CLASSES, params_digest
from sonomics.system import peak_rss_mb


class ExtractionError(ValueError):
    """A case cannot be extracted (bad ROI, shape mismatch); the message names the case."""


@dataclass(frozen=True)
class ExtractionTask:
    """One image/mask pair to extract; independent of how the cohort was loaded.

    Attributes:
        case_id: unique case (image) id; with ``reader`` it names the output row.
        image: image file path.
        mask: lesion mask file path.
        spacing: pixel spacing (row, column) in mm, or None to use the file header
            (PNG/JPEG have none: shape features are then in pixels).
        reader: who drew the mask ("reader1", "reader2", or a perturbation name).
        mask_label: ROI value in the mask; None = every non-zero pixel.
        perturbation: pseudo-reader recipe applied to the mask/image before
            extraction (see :mod:`sonomics.radiomics.reproducibility`), None = as drawn.
        min_roi_pixels: smallest accepted ROI area in pixels.
    """

    case_id: str
    image: Path
    mask: Path
    spacing: tuple[float, float] | None = None
    reader: str = "reader1"
    mask_label: int | None = None
    perturbation: str | None = None
    min_roi_pixels: int = 1


@dataclass
class CaseResult:
    """Features (name -> float) and diagnostics (name -> text) of one case."""

    features: dict[str, float]
    diagnostics: dict[str, str] = field(default_factory=dict)


def extract_case(task: ExtractionTask, params: dict[str, Any], *,
                 sigma_in_pixels: bool = True) -> CaseResult:
    """Read the task's image and mask and extract its features.

    Raises:
        ImageReadError: the image or mask cannot be read.
        ExtractionError: mask/image shapes differ, or the ROI is empty, whole-image
            or smaller than ``task.min_roi_pixels``.
    """
    started = time.process_time()
    loaded = read_image(task.image)
    mask = read_mask(task.mask, task.mask_label)
    if mask.shape != loaded.array.shape:
        raise ExtractionError(f"case {task.case_id}: mask shape {mask.shape} differs from "
                              f"image shape {loaded.array.shape}")
    image = loaded.array
    if task.perturbation:
        from sonomics.radiomics.perturbation import apply_perturbation

        image, mask = apply_perturbation(image, mask, task.perturbation)
    if task.spacing is not None:
        spacing: tuple[float, float] | None = (float(task.spacing[0]), float(task.spacing[1]))
    elif loaded.spacing_source == "header":
        spacing = loaded.spacing
    else:
        spacing = None
    result = extract_arrays(image, mask, params, spacing=spacing,
                            sigma_in_pixels=sigma_in_pixels,
                            min_roi_pixels=task.min_roi_pixels, case_id=task.case_id)
    result.diagnostics["diagnostics_sonomics_reader"] = task.reader
    result.diagnostics["diagnostics_sonomics_perturbation"] = task.perturbation or ""
    result.diagnostics["diagnostics_sonomics_cpu_s"] = f"{time.process_time() - started:.4f}"
    result.diagnostics["diagnostics_sonomics_peak_rss_mib"] = f"{peak_rss_mb()['peak_rss_mb']:.1f}"
    return result


def extract_arrays(image: np.ndarray, mask: np.ndarray, params: dict[str, Any], *,
                   spacing: tuple[float, float] | None = None, sigma_in_pixels: bool = True,
                   min_roi_pixels: int = 1, case_id: str = "array") -> CaseResult:
    """Extract features from a 2D image array and a boolean mask array.

    ``image`` is cast to float32 whatever its dtype (the uint8 trap). ``spacing`` is
    (row, column) in mm or None (unknown: shape features in pixels).
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if image.ndim != 2:
        raise ExtractionError(f"case {case_id}: image must be 2D, got shape {image.shape}")
    roi = int(mask.sum())
    if roi == 0:
        raise ExtractionError(f"case {case_id}: mask is empty (no ROI pixel)")
    if roi == mask.size:
        raise ExtractionError(f"case {case_id}: mask covers the whole image (no background); "
                              "check the mask file")
    if roi < min_roi_pixels:
        raise ExtractionError(f"case {case_id}: ROI has {roi} pixels, fewer than "
                              f"min_roi_pixels={min_roi_pixels}")
    filter_spacing = (1.0, 1.0) if sigma_in_pixels or spacing is None else spacing
    shape_spacing = spacing or (1.0, 1.0)

    features: dict[str, float] = {}
    diagnostics: dict[str, str] = {}
    if shape_spacing == filter_spacing:  # one pass: shape and filters see the same spacing
        _collect(_execute(params, image, mask, filter_spacing), features, diagnostics)
    else:
        shape_params, texture_params = _split_shape(params)
        if shape_params is not None:
            _collect(_execute(shape_params, image, mask, shape_spacing), features, diagnostics)
        if texture_params is not None:
            _collect(_execute(texture_params, image, mask, filter_spacing), features,
                     diagnostics)
    diagnostics.update({
        "diagnostics_sonomics_roi_pixels": str(roi),
        "diagnostics_sonomics_spacing": json.dumps(list(shape_spacing)),
        "diagnostics_sonomics_shape_unit": "mm" if spacing is not None else "pixel",
        "diagnostics_sonomics_filter_spacing": json.dumps(list(filter_spacing)),
    })
    bad = [name for name, value in features.items() if not math.isfinite(float(value))]
    if bad:  # a NaN must never reach the features table: the case becomes a failure row
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ExtractionError(f"case {case_id}: {len(bad)} feature(s) are not finite "
                              f"({shown}); the ROI ({roi} pixels) is too small or degenerate "
                              "for them")
    return CaseResult(features, diagnostics)


def _split_shape(params: dict[str, Any]) -> tuple[dict | None, dict | None]:
    """Shape-only parameters (Original image) and everything-but-shape parameters."""
    classes = params.get("featureClass") or {}
    shape = {k: v for k, v in classes.items() if k in SHAPE_CLASSES}
    rest = {k: v for k, v in classes.items() if k not in SHAPE_CLASSES}
    shape_params = None
    if shape and "Original" in params["imageType"]:
        shape_params = {"setting": dict(params["setting"]), "imageType": {"Original": {}},
                        "featureClass": shape}
    texture_params = None
    if rest:
        texture_params = {"setting": dict(params["setting"]),
                          "imageType": dict(params["imageType"]), "featureClass": rest}
    return shape_params, texture_params


def _execute(params: dict[str, Any], image: np.ndarray, mask: np.ndarray,
             spacing: tuple[float, float]) -> dict[str, Any]:
    import SimpleITK as sitk

    extractor = _extractor(params_digest(params), json.dumps(params, default=str))
    sitk_image = sitk.GetImageFromArray(image)
    sitk_mask = sitk.GetImageFromArray(mask.astype(np.uint8))
    itk_spacing = (float(spacing[1]), float(spacing[0]))  # SimpleITK: (x = column, y = row)
    sitk_image.SetSpacing(itk_spacing)
    sitk_mask.SetSpacing(itk_spacing)
    label = int(params["setting"].get("label", 1))
    if label != 1:
        sitk_mask = sitk_mask * label
    with warnings.catch_warnings():
        # skimage warns that LBP on float images is sensitive to tiny differences; the
        # float32 cast is deliberate (see module docstring).
        warnings.filterwarnings("ignore", message=".*local_binary_pattern.*")
        return extractor.execute(sitk_image, sitk_mask)


@lru_cache(maxsize=8)
def _extractor(digest: str, params_json: str):
    """One pyradiomics extractor per parameter set and process (construction validates)."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    return featureextractor.RadiomicsFeatureExtractor(json.loads(params_json))


def _collect(raw: dict[str, Any], features: dict[str, float],
             diagnostics: dict[str, str]) -> None:
    for name, value in raw.items():
        if name.startswith("diagnostics_"):
            diagnostics[name] = _as_text(value)  # the texture pass (last) wins
        else:
            features[name] = float(value)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    try:
        return json.dumps(value, default=str)
    except TypeError:
        return str(value)
