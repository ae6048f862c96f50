"""The cohort's sections of the study config: where the manifest is, how its columns are
named (``data:``), how its cases are partitioned (``split:``, external sites included) and
how features are harmonised across its sites (``harmonisation:``).

Kept apart from :mod:`sonomics.config`, which imports and re-exports them, so that each
module stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DataConfig", "HarmonisationConfig", "SplitConfig"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the cohort is and how its manifest's columns are named."""

    manifest: Path | None = Field(None, description="CSV or XLSX with one row per image")
    case_id: str = Field("case_id", description="column: unique case (image) id")
    patient_id: str | None = Field(
        "patient_id", description="column: patient id (optional; defaults to the case id)"
    )
    image: str = Field("image", description="column: image path (relative to the manifest)")
    mask: str = Field("mask", description="column: lesion mask path of reader 1")
    mask_reader2: str | None = Field(
        "mask_reader2", description="column: optional second-reader mask path (for ICC)"
    )
    label: str = Field("label", description="column: benign/malignant (or 0/1)")
    split: str | None = Field(
        "split", description="column: optional fixed split (train/test/external)"
    )
    subtype: str | None = Field(None, description="column: optional histological subtype")
    site: str | None = Field(
        "site", description="column: optional centre or scanner of each case (multi-centre "
        "cohorts: harmonisation, external sites)"
    )
    mask_source: str | None = Field(
        "mask_source", description="column: optional origin of each reader-1 mask, 'manual' "
        "or 'auto' (written by `sonomics segment`); automatic ROIs are named in every "
        "table note and in the report"
    )
    spacing: str | None = Field(
        None, description="column: optional pixel spacing in mm (overrides file headers)"
    )
    label_map: dict[str, int] = Field(
        default_factory=lambda: {"benign": 0, "malignant": 1, "0": 0, "1": 1},
        description="label text (case-insensitive, trimmed) -> 0 benign / 1 malignant",
    )
    mask_label: int | None = Field(
        None, description="ROI label value in the mask; null = every non-zero pixel"
    )
    min_roi_pixels: int = Field(25, ge=1, description="smallest acceptable ROI area, pixels")
    continuous: list[str] = Field(default_factory=list, description="continuous clinical columns")
    categorical: list[str] = Field(
        default_factory=list, description="categorical clinical columns"
    )
    units: dict[str, str] = Field(
        default_factory=dict,
        description="unit of a continuous clinical column (e.g. age: years), shown beside "
                    "its value by predict's web page")
    synthetic: bool = Field(False, description="the cohort is synthetic (banner on outputs)")

    @field_validator("label_map")
    @classmethod
    def _binary_labels(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v not in (0, 1)}
        if bad:
            raise ValueError(f"values must be 0 (benign) or 1 (malignant), got {bad}")
        return {str(k).strip().lower(): int(v) for k, v in value.items()}

    @model_validator(mode="after")
    def _clinical_disjoint(self) -> DataConfig:
        both = sorted(set(self.continuous) & set(self.categorical))
        if both:
            raise ValueError(f"columns declared both continuous and categorical: {both}")
        return self


class SplitConfig(_Section):
    """Train/test partition (paper: random 7:3)."""

    test_size: float = Field(0.3, gt=0, lt=1, description="fraction of patients in the test set")
    seed: int = Field(42, description="random seed of the split")
    use_manifest_split: bool = Field(
        True, description="use the manifest's split column when it is present"
    )
    external_sites: list[str] = Field(
        default_factory=list, description="sites (manifest 'site' column) whose every case is "
        "external: never trained on, evaluated beside the test set"
    )


class HarmonisationConfig(_Section):
    """ComBat harmonisation of features by site (manifest 'site' column), fitted on training
    cases only, inside the fitted feature pipeline (off by default: the paper has one
    centre)."""

    enabled: bool = Field(False, description="harmonise handcrafted features by site (ComBat)")
    deep: bool = Field(
        False, description="also harmonise the CNN's PCA features in the DLR fusion")
    mean_only: bool = Field(False, description="remove each site's mean only, not its scale")
    unseen_site: Literal["estimate", "refuse"] = Field(
        "estimate", description="a site not in training: estimate its shift from its own "
        "cases (unlabelled, at least min_site_cases) or refuse it")
    min_site_cases: int = Field(
        10, ge=2, description="fewest cases of an unseen site to estimate its shift from")
