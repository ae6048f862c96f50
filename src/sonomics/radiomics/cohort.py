"""Radiomics for a whole cohort: tasks from the cohort table, extraction, ICC, output tables.

This is the glue between :func:`sonomics.data.manifest.load_cohort` and the
cohort-agnostic engine; ``sonomics extract`` and the study pipeline both call
:func:`extract_cohort`.

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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sonomics.config import StudyConfig
from sonomics.io import atomic_write_text, write_parquet, write_table
from sonomics.radiomics.engine import ExtractionResult, run_extraction
from sonomics.radiomics.extract import ExtractionTask
from sonomics.radiomics.params import load_params
from sonomics.radiomics.reproducibility import (
    DEFAULT_PERTURBATIONS,
    EXTRA_PERTURBATIONS,
    icc_table,
    perturbation_tasks,
)


@dataclass
class CohortExtraction:
    """Output of :func:`extract_cohort`: the engine's result, the ICC table and its kind."""

    result: ExtractionResult
    icc: pd.DataFrame
    icc_kind: str  # "inter-reader", "perturbation" or "none"
    written: dict[str, Path]


def _spacing(row: pd.Series) -> tuple[float, float] | None:
    r, c = row.get("spacing_row"), row.get("spacing_col")
    if r is None or c is None:
        return None
    try:
        r, c = float(r), float(c)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(r) or math.isnan(c) else (r, c)


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
                              spacing=_spacing(row), reader="reader1", **common)
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
                                 mask=Path(row["mask_reader2"]), spacing=_spacing(row),
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
    return icc_table(tables, form=cfg.radiomics.icc_form, threshold=cfg.radiomics.icc_threshold,
                     kind=label)


def write_outputs(result: ExtractionResult, icc: pd.DataFrame, out_dir: str | Path
                  ) -> dict[str, Path]:
    """Write features, diagnostics, failures and ICC into the run directory.

    ``radiomics/features.parquet`` + ``.csv`` (reader 1, index case_id),
    ``radiomics/features_all_readers.parquet`` (every rating), ``radiomics/diagnostics.csv``,
    ``tables/radiomics_failures.csv|md`` and ``tables/radiomics_icc.csv|md``.
    """
    out_dir = Path(out_dir)
    rdir, tdir = out_dir / "radiomics", out_dir / "tables"
    reader1 = result.for_reader("reader1") if not result.features.empty else result.features
    written = {
        "features": write_parquet(reader1, rdir / "features.parquet"),
        "features_csv": atomic_write_text(rdir / "features.csv", reader1.to_csv()),
        "features_all": write_parquet(result.features, rdir / "features_all_readers.parquet"),
        "diagnostics": atomic_write_text(rdir / "diagnostics.csv", result.diagnostics.to_csv()),
        "failures": write_table(result.failures, tdir, "radiomics_failures",
                                title="Radiomics extraction failures",
                                note="Each case listed here is excluded from the radiomics "
                                     "features."),
        "icc": write_table(icc, tdir, "radiomics_icc", title="Radiomics reproducibility (ICC)",
                           note=_icc_note(icc)),
    }
    return written


def _icc_note(icc: pd.DataFrame) -> str:
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


def extract_cohort(cfg: StudyConfig, out_dir: str | Path | None = None, *,
                   scheduler: str | None = None, workers: int | None = None,
                   progress: bool = True) -> CohortExtraction:
    """Load the cohort, extract every case (cached), compute ICC, write the outputs."""
    from sonomics.data.manifest import COHORT, CohortError, load_cohort

    out_dir = Path(out_dir) if out_dir is not None else Path(cfg.out)
    cohort = load_cohort(cfg)
    fatal = [p.line() for p in cohort.errors if p.case_id == COHORT]
    if fatal:
        raise CohortError("; ".join(fatal))
    tasks, kind = build_tasks(cohort.usable(), cfg)
    result = run_extraction(
        tasks, load_params(cfg.radiomics), cache_dir=out_dir / "cache" / "radiomics",
        workers=cfg.radiomics.workers if workers is None else workers,
        scheduler=scheduler or cfg.radiomics.scheduler,
        sigma_in_pixels=cfg.radiomics.sigma_in_pixels, progress=progress)
    icc = icc_from_result(result, kind, cfg)
    return CohortExtraction(result, icc, kind, write_outputs(result, icc, out_dir))
