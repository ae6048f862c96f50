"""What a bundle expects of a new patient, read from the bundle itself.

The web form and ``GET /api/schema`` are generated from this: the clinical factors the
clinical model and the nomogram need (name, type, the categories seen in training, the
training range and unit of continuous values) and the bundle's provenance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sonomics.bundle import Bundle


@dataclass(frozen=True)
class Factor:
    """One clinical factor of the form."""

    name: str
    kind: str  # "continuous" or "categorical"
    in_model: bool  # an independent factor of the clinical model / nomogram
    levels: list[str] = field(default_factory=list)
    low: float | None = None  # training range (continuous)
    high: float | None = None
    unit: str = ""


@dataclass(frozen=True)
class InputSchema:
    """Everything the page and the API ask for, and where the model came from."""

    factors: list[Factor]
    models: list[str]
    cutoffs: dict[str, float]
    impute_missing: bool
    provenance: dict[str, Any]
    spacing: bool = False  # the study read pixel spacing from a manifest column
    segmenter: dict[str, Any] | None = None  # the bundle's segmenter, if it has one


    def as_json(self) -> dict[str, Any]:
        return {"factors": [asdict(f) for f in self.factors], "models": self.models,
                "cutoffs": self.cutoffs, "impute_missing": self.impute_missing,
                "provenance": self.provenance,
                "spacing_mm": "asked: the study's features are in mm" if self.spacing
                else "not used",
                "roi": {"modes": ["mask", "polygon", "box"]
                        + (["segment"] if self.segmenter else []),
                        "segmenter": self.segmenter or "not available: this bundle has no "
                                                       "segmentation model"}}

    def factor(self, name: str) -> Factor | None:
        return next((f for f in self.factors if f.name == name), None)


def _levels(bundle: Bundle, column: str) -> list[str]:
    levels = bundle.meta["clinical"].get("levels")
    if levels is None:  # a bundle written before the levels were recorded
        levels = bundle.models["clinical.model"].named_steps["encode"].levels_
    return [str(v) for v in levels.get(column, [])]


def input_schema(bundle: Bundle) -> InputSchema:
    """The schema of a loaded bundle (factors empty when it has no clinical model)."""
    meta, cfg = bundle.meta, bundle.meta["config"]
    factors: list[Factor] = []
    clinical = meta.get("clinical") if "clinical.model" in bundle.models else None
    if clinical is not None:
        used = set(clinical.get("selected_variables", []))
        ranges, units = clinical.get("ranges", {}), clinical.get("units", {})
        for name in clinical["continuous"]:
            low, high = ranges.get(name, (None, None))
            factors.append(Factor(name, "continuous", name in used, low=low, high=high,
                                  unit=str(units.get(name, ""))))
        factors.extend(Factor(name, "categorical", name in used, levels=_levels(bundle, name))
                       for name in clinical["categorical"])
        factors.sort(key=lambda f: not f.in_model)  # the model's factors first
    deep = meta.get("deep", {})
    sources = deep.get("weights_source", {})
    provenance = {
        "study": meta.get("study", ""), "created": bundle.info.get("created", ""),
        "sonomics_version": meta.get("sonomics_version", ""),
        "versions": meta.get("versions", {}), "synthetic": bool(meta.get("synthetic")),
        "cnn": deep.get("label", ""),
        # "imagenet" / "file" / "random", as the deep stage recorded it for the chosen CNN
        "cnn_weights": sources.get(deep.get("backbone", ""), "") if deep else "",
        "cnn_random_init": bool(deep.get("random_init")),
    }
    cutoffs = {k: float(v) for k, v in meta["cutoffs"].items() if math.isfinite(float(v))}
    return InputSchema(factors, sorted(cutoffs), cutoffs,
                       bool(cfg.get("predict", {}).get("impute_missing", False)), provenance,
                       spacing=bool(cfg["data"].get("spacing")),
                       segmenter=_segmenter_info(meta))


def _segmenter_info(meta: dict[str, Any]) -> dict[str, Any] | None:
    seg = meta.get("segmenter")
    if not seg:
        return None
    return {"architecture": seg["settings"]["architecture"],
            "box_prompt_required": bool(seg["settings"]["box_prompt"]),
            "validation_dice": seg.get("val_dice"), "training_cases": seg["training_cases"]}
