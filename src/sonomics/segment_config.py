"""The ``segment:`` section of the study config: the automatic lesion segmenter.

Kept apart from :mod:`sonomics.config` (which imports and re-exports it) so that each
module stays small. Defaults fit a CPU: a U-Net with a ResNet18 encoder from random
initialisation at 256 px.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SegmentConfig"]


class SegmentConfig(BaseModel):
    """How ``sonomics segment`` learns the ROI from the training set's reader-1 masks."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(False, description="train the segmenter as a study stage and put "
                          "it in the bundle, so predict and serve can score a case without "
                          "a hand-drawn mask (`sonomics segment` works without it)")
    architecture: str = Field("unet-resnet18", description="a key of the segmenter registry "
                              "(sonomics.segment.network.SEGMENTERS)")
    weights: Path | None = Field(None, description="local encoder weight file (e.g. ImageNet "
                                 "ResNet18 from torchvision); none = random initialisation")
    input_size: int = Field(256, ge=32, description="square network input, pixels")
    box_prompt: bool = Field(False, description="segment inside a box around the lesion "
                             "(x0,y0,x1,y1), as a clinician gives with two clicks")
    box_margin: float = Field(0.25, ge=0, description="context around the box, fraction of "
                              "its size")
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    early_stopping: int = Field(8, ge=1, description="epochs without a better validation Dice")
    val_fraction: float = Field(0.15, gt=0, lt=0.5, description="validation carve-out of the "
                                "training set, grouped by patient")
    threshold: float = Field(0.5, gt=0, lt=1, description="probability above which a pixel "
                             "is lesion")
    min_pixels: int | None = Field(None, ge=1, description="smallest ROI kept; none = "
                                   "data.min_roi_pixels")
    feature_icc: bool = Field(True, description="ICC of every radiomics feature between "
                              "the reader-1 and the automatic ROI of the test images (two "
                              "extractions per test case)")
    device: str = Field("auto", description="auto, cpu, cuda or mps")
