"""Radiomics for a whole cohort: extraction tasks from the cohort table, and the ICC table.

The glue between a cohort table and the cohort-agnostic engine; the study's radiomics
stage (which ``sonomics extract`` runs too) calls it.

Which cases get a second rating (for ICC):

* cases with a ``mask_reader2`` get a reader-2 task -> **inter-reader ICC**;
* otherwise, when ``radiomics.perturbation`` is on, pseudo-readers
  (:data:`~sonomics.radiomics.reproducibility.DEFAULT_PERTURBATIONS`) are made
  from reader 1's mask -> **perturbation ICC**.

Either way at most ``radiomics.icc_subset`` cases (the paper: 100 random
patients), drawn with the study seed, are rated twice.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sonomics.config import StudyConfig
from sonomics.data.manifest import case_spacing
from sonomics.radiomics.engine import ExtractionResult
from sonomics.radiomics.extract import ExtractionTask
from sonomics.radiomics.reproducibility import (
    DEFAULT_PERTURBATIONS,
    EXTRA_PERTURBATIONS,
    feature_icc_table,
    perturbation_tasks,
)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def pseudo_readers(cfg: StudyConfig) -> dict[str, str]:
    """Perturbation pseudo-readers (name -> recipe) the config asks for."""
    if cfg.radiomics.perturbation_extra:
        return {**DEFAULT_PERTURBATIONS, **EXTRA_PERTURBATIONS}
    return dict(DEFAULT_PERTURBATIONS)


def build_tasks(table: pd.DataFrame, cfg: StudyConfig) -> tuple[list[ExtractionTask], str]:
    """Reader-1 tasks for every case plus the second ratings for ICC; returns (tasks, kind)."""
    common = {"mask_label": cfg.data.mask_label, "min_roi_pixels": cfg.data.min_roi_pixels}
    reader1 = [ExtractionTask(case_id=str(cid), image=Path(row["image"]), mask=Path(row["mask"]),
                              spacing=case_spacing(row), reader="reader1", **common)
               for cid, row in table.iterrows()]
    has_r2 = "mask_reader2" in table and table["mask_reader2"].map(_present)
    rng = np.random.default_rng(cfg.seed)

    def subset(ids: list[str]) -> set[str]:
        limit = cfg.radiomics.icc_subset
        if limit is None or len(ids) <= limit:
            return set(ids)
        return set(rng.choice(np.array(ids, dtype=object), size=limit, replace=False))

    if has_r2 is not False and bool(has_r2.any()):
        chosen = subset([str(c) for c in table.index[has_r2.to_numpy()]])
        second = [ExtractionTask(case_id=str(cid), image=Path(row["image"]),
                                 mask=Path(row["mask_reader2"]), spacing=case_spacing(row),
                                 reader="reader2", **common)
                  for cid, row in table.iterrows() if str(cid) in chosen]
        return reader1 + second, "inter-reader"
    if cfg.radiomics.perturbation:
        chosen = subset([t.case_id for t in reader1])
        base = [t for t in reader1 if t.case_id in chosen]
        return reader1 + perturbation_tasks(base, pseudo_readers(cfg)), "perturbation"
    return reader1, "none"


def icc_from_result(result: ExtractionResult, kind: str, cfg: StudyConfig) -> pd.DataFrame:
    """ICC table of reader 1 vs the second ratings present in ``result`` (empty when none)."""
    if kind == "none" or result.features.empty:
        return pd.DataFrame(columns=["feature", "icc", "lower", "upper", "form", "kind",
                                     "raters", "n_cases", "keep"])
    readers = ["reader1", "reader2"] if kind == "inter-reader" else [
        "reader1", *pseudo_readers(cfg)]
    present = set(result.features.index.get_level_values("reader"))
    tables = {r: result.for_reader(r) for r in readers if r in present}
    label = "perturbation ICC" if kind == "perturbation" else "inter-reader ICC"
    return feature_icc_table(tables, form=cfg.radiomics.icc_form,
                             threshold=cfg.radiomics.icc_threshold, kind=label)


def icc_note(icc: pd.DataFrame) -> str:
    if icc.empty:
        return "No second rating: ICC not computed."
    kind = str(icc["kind"].iloc[0])
    kept = int(icc["keep"].sum())
    text = (f"{kind}, {icc['form'].iloc[0]}, {int(icc['n_cases'].iloc[0])} cases, "
            f"raters {icc['raters'].iloc[0]}: {kept} of {len(icc)} features kept.")
    if kind.startswith("perturbation"):
        text += (" Perturbation ICC: pseudo-readers from eroded/dilated/jittered masks of ONE "
                 "reader; it measures robustness to segmentation changes, not agreement "
                 "between two observers.")
    return text
