"""Applying a trained segmenter: probability maps on whole images, cleaned into one
lesion each; a case where nothing usable is found gets its own error, not the batch's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sonomics.segment.geometry import (
    Box,
    SegmentationError,
    back_to_image,
    clean_mask,
    frame_of,
    network_input,
)
from sonomics.segment.train import SegmentSettings, network_probabilities


@dataclass(frozen=True)
class AutoMask:
    """One case's automatic ROI (``mask`` None and ``error`` set when none was found)."""

    case_id: str
    mask: np.ndarray | None
    error: str = ""


def segment_images(model: torch.nn.Module, settings: SegmentSettings,
                   images: list[np.ndarray], case_ids: list[str],
                   boxes: list[Box | None] | None = None, *, threshold: float = 0.5,
                   min_pixels: int = 25, batch_size: int = 16) -> list[AutoMask]:
    """The segmenter's lesion on each image (within its box when the segmenter was trained
    with box prompts: then every image needs a box)."""
    boxes = boxes or [None] * len(images)
    out: list[AutoMask] = []
    for start in range(0, len(images), batch_size):
        chunk = range(start, min(start + batch_size, len(images)))
        frames, inputs, failed = {}, [], {}
        for i in chunk:
            box = boxes[i]
            if settings.box_prompt and box is None:
                failed[i] = (f"case {case_ids[i]}, field 'roi_box': this segmenter needs a "
                             "box around the lesion")
                continue
            try:
                frames[i] = frame_of(images[i].shape, box, settings.box_margin)
            except ValueError as exc:
                failed[i] = f"case {case_ids[i]}, field 'roi_box': {exc}"
                continue
            inputs.append(network_input(images[i], frames[i], settings.input_size))
        probs = iter(network_probabilities(model, np.stack(inputs))) if inputs else iter(())
        for i in chunk:
            if i in failed:
                out.append(AutoMask(case_ids[i], None, failed[i]))
                continue
            prob = back_to_image(next(probs), frames[i], images[i].shape)
            try:
                mask = clean_mask(prob, threshold=threshold, box=boxes[i],
                                  min_pixels=min_pixels, case_id=case_ids[i])
                out.append(AutoMask(case_ids[i], mask))
            except SegmentationError as exc:
                out.append(AutoMask(case_ids[i], None, str(exc)))
    return out
