"""Checking every image and mask of a cohort, reporting all problems at once.

``sonomics validate`` never stops at the first problem: each check adds a
:class:`~sonomics.data.manifest.Problem` naming the case and the field, and the
command prints them as one table. Errors exclude the case (or, at cohort level,
stop the study); warnings are reported and the case is kept.

Checks on files (the table-level ones live in :mod:`sonomics.data.manifest`):
missing file, unreadable or truncated image, image/mask size mismatch, empty
mask, ROI smaller than ``data.min_roi_pixels``, mask with several disconnected
components (warning), mask covering the whole image, and the same for the
second-reader mask. A ROI touching the image border is a warning: the lesion
may extend beyond the field of view, so its shape features would describe only
the visible part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from sonomics.data.duplicates import (
    DEFAULT_MAX_DISTANCE,
    grouping_key,
    image_hash,
    near_duplicate_groups,
)
from sonomics.data.images import (
    ImageReadError,
    exif_orientation,
    mask_values,
    read_image,
    read_mask,
)
from sonomics.data.manifest import Cohort, Problem, case_spacing


@dataclass(frozen=True)
class CaseGeometry:
    """What validation learned about a case's image and ROI."""

    shape: tuple[int, int]
    roi_pixels: int
    components: int
    spacing: tuple[float, float]
    spacing_source: str
    image_hash: int


def touches_border(mask: np.ndarray) -> bool:
    """Whether any ROI pixel lies in the first or last row or column of the image."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def check_mask(mask: np.ndarray, image_shape: tuple[int, int], case_id: str, field: str,
               min_roi: int) -> tuple[list[Problem], int, int]:
    """Problems of one mask against its image; also returns ROI area and component count."""
    problems: list[Problem] = []
    if mask.shape != image_shape:
        problems.append(Problem(case_id, field, "error",
                                f"mask size {mask.shape[1]}x{mask.shape[0]} does not match the "
                                f"image size {image_shape[1]}x{image_shape[0]} (width x height)"))
        return problems, int(mask.sum()), 0
    area = int(mask.sum())
    if area == 0:
        problems.append(Problem(case_id, field, "error", "mask is empty (no ROI pixel)"))
        return problems, 0, 0
    if area < min_roi:
        problems.append(Problem(case_id, field, "error",
                                f"ROI has {area} pixels, fewer than data.min_roi_pixels = "
                                f"{min_roi}"))
    if area == mask.size:
        problems.append(Problem(case_id, field, "error",
                                "mask covers the whole image: no lesion outline (all-ones mask)"))
    elif touches_border(mask):
        problems.append(Problem(case_id, field, "warning",
                                "ROI touches the image border: the lesion may be cut off by the "
                                "field of view (shape features describe the visible part only)"))
    _, components = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if components > 1:
        problems.append(Problem(case_id, field, "warning",
                                f"mask has {components} disconnected components; all are used "
                                "as one ROI"))
    return problems, area, int(components)


def validate_case(case_id: str, row, min_roi: int, mask_label: int | None,
                  ) -> tuple[list[Problem], CaseGeometry | None]:
    """Every file-level check for one case."""
    problems: list[Problem] = []
    for field in ("image", "mask", "mask_reader2"):
        path = row[field]
        if field == "mask_reader2" and path is None:
            continue
        if path is None:
            problems.append(Problem(case_id, field, "error", "no file given"))
    if problems:
        return problems, None
    try:
        image = read_image(row["image"])
    except ImageReadError as exc:
        return [Problem(case_id, "image", "error", str(exc))], None
    geometry = None
    for field in ("mask", "mask_reader2"):
        if row[field] is None:
            continue
        try:
            mask = read_mask(row[field], mask_label)
        except ImageReadError as exc:
            problems.append(Problem(case_id, field, "error", str(exc)))
            continue
        found, area, components = check_mask(mask, image.shape, case_id, field, min_roi)
        problems.extend(found)
        if mask_label is None:
            values = mask_values(row[field])
            if len(values) > 2:
                shown = ", ".join(f"{v:g}" for v in values[:8])
                problems.append(Problem(
                    case_id, field, "warning",
                    f"mask holds {len(values)} values ({shown}); every non-zero pixel is "
                    "ROI — set data.mask_label to use one label only"))
        orientation = exif_orientation(row["image"])
        if orientation != 1 and exif_orientation(row[field]) == 1:
            problems.append(Problem(
                case_id, field, "warning",
                f"the image is rotated or flipped for display (EXIF orientation "
                f"{orientation}) but the mask has no such tag: check that the mask was drawn "
                "on the displayed image, not on the stored pixels"))
        if field == "mask":
            geometry = CaseGeometry(image.shape, area, components, image.spacing,
                                    image.spacing_source, image_hash(image.array))
    return problems, geometry


def validate_cohort(cohort: Cohort, progress: Callable[[int, int], None] | None = None,
                    max_hash_distance: int = DEFAULT_MAX_DISTANCE,
                    ) -> dict[str, CaseGeometry]:
    """Run the file checks on every case; problems are appended to ``cohort.problems``.

    Header spacing (DICOM/NIfTI/NRRD) fills ``spacing_row/col`` where the manifest
    gave none; cases without any stay NaN (read as 1.0 pixel units downstream).
    Near-duplicate images are reported (a warning per group, an error for every
    case of a group whose labels disagree) and ``table["group_id"]`` joins them
    with their patients so the split keeps each group on one side.
    """
    dcfg = cohort.config
    geometry: dict[str, CaseGeometry] = {}
    table = cohort.table
    for i, (case_id, row) in enumerate(table.iterrows()):
        found, geo = validate_case(str(case_id), row, dcfg.min_roi_pixels, dcfg.mask_label)
        cohort.problems.extend(found)
        if geo is not None:
            geometry[str(case_id)] = geo
            if case_spacing(row) is None and geo.spacing_source == "header":
                table.loc[case_id, ["spacing_row", "spacing_col"]] = geo.spacing
        if progress is not None:
            progress(i + 1, len(table))
    hashes = pd.Series({cid: g.image_hash for cid, g in geometry.items()}, dtype="uint64")
    groups = near_duplicate_groups(hashes, max_hash_distance)
    for group in groups:
        labels = table.loc[group, "label"].dropna().astype(int)
        names = ", ".join(group)
        if labels.nunique() > 1:
            for cid in group:
                cohort.problems.append(Problem(
                    cid, "image", "error",
                    f"near-duplicate images with different labels: {names}"))
        else:
            cohort.problems.append(Problem(
                group[0], "image", "warning",
                f"near-duplicate images (kept on one side of the split): {names}"))
    table["group_id"] = grouping_key(table["patient_id"], groups)
    return geometry
