"""Where the segmenter looks and what it returns: the network's input frame (the whole
image, or a box prompt with context), mapping probabilities back to the image, and the
clean-up of a probability map into one lesion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


class SegmentationError(ValueError):
    """No usable lesion was found (the message names the case)."""


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels (x = column)


@dataclass(frozen=True)
class Frame:
    """The part of an image the network sees: rows r0:r1, columns c0:c1."""

    r0: int
    r1: int
    c0: int
    c1: int


def mask_box(mask: np.ndarray) -> Box:
    """The bounding box of a mask's pixels, as x0, y0, x1, y1 (pixel edges): the CNN
    crop's :func:`~sonomics.deep.preprocess.roi_bbox` in the box prompt's x/y order."""
    from sonomics.deep.preprocess import roi_bbox

    r0, r1, c0, c1 = roi_bbox(mask)
    return float(c0), float(r0), float(c1), float(r1)


def frame_of(shape: tuple[int, int], box: Box | None, margin: float) -> Frame:
    """The whole image, or ``box`` widened by ``margin`` of its size on every side."""
    rows, cols = shape
    if box is None:
        return Frame(0, rows, 0, cols)
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= cols and 0 <= y0 < y1 <= rows):
        raise ValueError(f"box {box} is empty or outside the image ({cols} x {rows})")
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return Frame(max(0, int(np.floor(y0 - dy))), min(rows, int(np.ceil(y1 + dy))),
                 max(0, int(np.floor(x0 - dx))), min(cols, int(np.ceil(x1 + dx))))


def resize(array: np.ndarray, size: tuple[int, int], order: int) -> np.ndarray:
    """``array`` resampled to ``size`` (rows, cols): order 1 for images, 0 for masks."""
    from skimage.transform import resize as sk_resize

    out = sk_resize(array.astype(np.float32), size, order=order, mode="edge",
                    anti_aliasing=order > 0 and (array.shape[0] > size[0]
                                                 or array.shape[1] > size[1]),
                    preserve_range=True)
    return out.astype(np.float32)


def network_input(image: np.ndarray, frame: Frame, size: int) -> np.ndarray:
    """The framed image at ``size`` x ``size``, z-scored per image (float32)."""
    crop = resize(image[frame.r0:frame.r1, frame.c0:frame.c1], (size, size), order=1)
    return ((crop - crop.mean()) / (crop.std() + 1e-6)).astype(np.float32)


def network_target(mask: np.ndarray, frame: Frame, size: int) -> np.ndarray:
    crop = mask[frame.r0:frame.r1, frame.c0:frame.c1].astype(np.float32)
    return (resize(crop, (size, size), order=1) >= 0.5).astype(np.float32)


def back_to_image(prob: np.ndarray, frame: Frame, shape: tuple[int, int]) -> np.ndarray:
    """A network-sized probability map placed back on the whole image (0 outside)."""
    out = np.zeros(shape, dtype=np.float32)
    out[frame.r0:frame.r1, frame.c0:frame.c1] = resize(
        prob, (frame.r1 - frame.r0, frame.c1 - frame.c0), order=1)
    return out


def clean_mask(prob: np.ndarray, *, threshold: float = 0.5, box: Box | None = None,
               min_pixels: int = 25, case_id: str = "?") -> np.ndarray:
    """One lesion from a probability map: the largest connected component above
    ``threshold`` (with a box: the component with most pixels inside it), holes filled.

    Raises :class:`SegmentationError` naming the case when nothing of at least
    ``min_pixels`` pixels is found.
    """
    binary = prob >= threshold
    labels, n = ndimage.label(binary)
    if n == 0:
        raise SegmentationError(f"case {case_id}, field 'mask': the segmenter found no lesion "
                                f"(no pixel above {threshold:g}); draw the ROI by hand")
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        inside = np.zeros_like(binary)
        inside[y0:y1, x0:x1] = True
        score = ndimage.sum(inside & binary, labels, index=np.arange(1, n + 1))
    else:
        score = ndimage.sum(binary, labels, index=np.arange(1, n + 1))
    best = int(np.argmax(score)) + 1
    mask = ndimage.binary_fill_holes(labels == best)
    if int(mask.sum()) < min_pixels:
        raise SegmentationError(f"case {case_id}, field 'mask': the segmenter's lesion has "
                                f"{int(mask.sum())} pixels, fewer than {min_pixels}; draw the "
                                "ROI by hand")
    return mask
