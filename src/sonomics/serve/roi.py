"""The ROI of a web case: an uploaded mask file, or a polygon or box drawn on the image.

Drawn ROIs arrive as vertex coordinates in the image's pixel grid (columns x, rows y, as
the page shows the image) and are rasterised here, on the server, so the page, the API
and a script calling it get the same mask for the same coordinates.
"""

from __future__ import annotations

import json

import numpy as np


class InputError(ValueError):
    """A web case's input is unusable; the message is one line naming the field."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _numbers(text: str, field: str) -> list[float]:
    try:
        values = json.loads(text) if text.strip().startswith("[") else \
            [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except (ValueError, TypeError):
        raise InputError(f"{field}: not a list of numbers: {text[:60]!r}") from None
    flat = np.asarray(values, dtype=object).ravel().tolist()
    try:
        out = [float(v) for v in flat]
    except (TypeError, ValueError):
        raise InputError(f"{field}: not a list of numbers: {text[:60]!r}") from None
    if not all(np.isfinite(out)):
        raise InputError(f"{field}: coordinates must be finite numbers")
    return out


def _inside(xs: np.ndarray, ys: np.ndarray, shape: tuple[int, int], field: str) -> None:
    rows, cols = shape
    if xs.min() < 0 or ys.min() < 0 or xs.max() > cols or ys.max() > rows:
        raise InputError(f"{field}: the ROI lies (partly) outside the image ({cols} x {rows} "
                         "pixels; x is the column, y the row)")


def box_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    """A box ``x0,y0,x1,y1`` (pixel edges) as a boolean mask of ``shape``."""
    values = _numbers(text, "roi_box")
    if len(values) != 4:
        raise InputError(f"roi_box: needs 4 numbers x0,y0,x1,y1, got {len(values)}")
    x0, y0, x1, y1 = values
    xs, ys = np.array([x0, x1]), np.array([y0, y1])
    _inside(xs, ys, shape, "roi_box")
    mask = np.zeros(shape, dtype=bool)
    r0, r1 = int(round(ys.min())), int(round(ys.max()))
    c0, c1 = int(round(xs.min())), int(round(xs.max()))
    mask[r0:r1, c0:c1] = True
    return mask


def polygon_mask(text: str, shape: tuple[int, int]) -> np.ndarray:
    """A polygon ``[[x, y], ...]`` (or ``x,y,x,y,...``) as a boolean mask of ``shape``."""
    from skimage.draw import polygon

    values = _numbers(text, "roi_polygon")
    if len(values) % 2 or len(values) < 6:
        raise InputError("roi_polygon: needs at least 3 vertices as x,y pairs, got "
                         f"{len(values)} number(s)")
    xy = np.asarray(values).reshape(-1, 2)
    _inside(xy[:, 0], xy[:, 1], shape, "roi_polygon")
    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(xy[:, 1], xy[:, 0], shape=shape)
    mask[rr, cc] = True
    return mask
