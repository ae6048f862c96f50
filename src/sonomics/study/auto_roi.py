"""Which radiomics features survive automation: the ICC of every feature between the
reader-1 ROI and the segmenter's ROI of the same TEST images.

Features are extracted through the study's own engine and content-addressed cache (the
reader-1 features of a case are computed once for the study and this table), with the
study's parameter file, and the ICC uses the study's form and threshold, so a feature
"kept" here would pass the study's reproducibility filter with the automatic ROI as the
second reader.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sonomics.study.context import StudyContext


def auto_feature_icc(ctx: StudyContext, auto_masks: dict[str, str], case_ids: list[str]
                     ) -> pd.DataFrame:
    """Per-feature ICC (study's form) of reader-1 vs automatic ROIs on ``case_ids``."""
    from sonomics.data.manifest import case_spacing
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask
    from sonomics.radiomics.params import load_params
    from sonomics.radiomics.reproducibility import feature_icc_table

    cfg = ctx.config
    table, _ = ctx.cases()
    ids = [c for c in case_ids if auto_masks.get(c)]
    if len(ids) < 3:
        return pd.DataFrame()
    tasks = []
    for case in ids:
        row = table.loc[case]
        common = {"case_id": str(case), "image": Path(row["image"]),
                  "spacing": case_spacing(row), "min_roi_pixels": 1}
        tasks.append(ExtractionTask(mask=Path(row["mask"]), reader="reader1",
                                    mask_label=cfg.data.mask_label, **common))
        tasks.append(ExtractionTask(mask=Path(auto_masks[case]), reader="auto", **common))
    result = run_extraction(tasks, load_params(cfg.radiomics),
                            cache_dir=ctx.run.cache / "radiomics",
                            workers=cfg.radiomics.workers,
                            sigma_in_pixels=cfg.radiomics.sigma_in_pixels,
                            progress=ctx.console.is_terminal)
    present = set(result.features.index.get_level_values("case_id")) if len(
        result.features) else set()
    if len(present) < 3:
        return pd.DataFrame()
    tables = {r: result.for_reader(r) for r in ("reader1", "auto")}
    return feature_icc_table(tables, form=cfg.radiomics.icc_form,
                             threshold=cfg.radiomics.icc_threshold,
                             kind="automatic vs reader-1 ROI")


def feature_icc_summary(icc: pd.DataFrame) -> pd.DataFrame:
    """Features kept (ICC >= the study's threshold) and median ICC, per feature class."""
    if icc.empty:
        return pd.DataFrame()
    parts = icc["feature"].str.split("_", n=2, expand=True)
    frame = icc.assign(image_type=parts[0], feature_class=parts[1])
    rows = []
    for (image_type, feature_class), group in frame.groupby(["image_type", "feature_class"]):
        rows.append({"image_type": image_type, "feature_class": feature_class,
                     "features": len(group), "kept": int(group["keep"].sum()),
                     "median_icc": float(group["icc"].median())})
    rows.append({"image_type": "all", "feature_class": "all", "features": len(frame),
                 "kept": int(frame["keep"].sum()), "median_icc": float(frame["icc"].median())})
    return pd.DataFrame(rows)
