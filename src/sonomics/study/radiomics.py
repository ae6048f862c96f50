"""Methods 2.4-2.5: handcrafted radiomics and their reproducibility.

pyradiomics features of reader 1's mask for every usable case (parallel, content-cached,
resumable); second ratings — a second reader's mask, or perturbed masks when there is
none — on TRAINING cases only, so the ICC filter learns nothing from the test set.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sonomics.io import csv_text
from sonomics.pipeline import Stage
from sonomics.rundir import RunDir
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, table


def extract(ctx: StudyContext, *, workers: int | None = None, scheduler: str | None = None,
            progress: bool | None = None) -> None:
    """Extract every case, compute the ICC on training cases, write features and tables."""
    from sonomics.radiomics.cohort import build_tasks, icc_from_result
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.params import load_params

    cfg = ctx.config
    cases, split = ctx.cases()
    train = cases[(split == "train").to_numpy()]
    others = cases[(split != "train").to_numpy()].assign(mask_reader2=None)
    tasks, kind = build_tasks(train, cfg)
    no_icc = cfg.model_copy(deep=True)
    no_icc.radiomics.perturbation = False
    other_tasks, _ = build_tasks(others, no_icc)
    result = run_extraction(tasks + other_tasks, load_params(cfg.radiomics),
                            cache_dir=ctx.run.cache / "radiomics",
                            workers=cfg.radiomics.workers if workers is None else workers,
                            scheduler=scheduler or cfg.radiomics.scheduler,
                            sigma_in_pixels=cfg.radiomics.sigma_in_pixels,
                            progress=ctx.console.is_terminal if progress is None else progress)
    icc = icc_from_result(result, kind, cfg)
    write_extraction(ctx.run, result, icc)
    n_feat = result.features.shape[1]
    kept = int(icc["keep"].sum()) if len(icc) else n_feat
    ctx.console.print(f"  {n_feat} features per image; {kind} ICC on training cases: "
                      f"{kept} kept; {len(result.failures)} failed task(s); "
                      f"{result.n_cached} from cache, {result.n_computed} computed")


def write_extraction(run: RunDir, result, icc: pd.DataFrame) -> dict[str, Path]:
    """Features (reader 1; every rating), diagnostics, failures and ICC into the run."""
    from sonomics.radiomics.cohort import icc_note

    reader1 = result.for_reader("reader1") if not result.features.empty else result.features
    features_csv = run.radiomics_features.with_suffix(".csv")
    return {
        "features": run.write_features(reader1, run.radiomics_features),
        "features_csv": run.write_text(features_csv, csv_text(reader1)),
        "features_all": run.write_features(result.features, run.radiomics_all_ratings),
        "diagnostics": run.write_text(run.radiomics_diagnostics,
                                      csv_text(result.diagnostics)),
        "failures": run.write_table(result.failures, "radiomics_failures",
                                    title="Radiomics extraction failures",
                                    note="Each case listed here is excluded from the "
                                         "radiomics features."),
        "icc": run.write_table(icc, "radiomics_icc", title="Radiomics reproducibility (ICC)",
                               note=icc_note(icc)),
        "icc_store": run.write_features(icc.set_index("feature") if len(icc) else
                                        pd.DataFrame({"icc": []}), run.icc_store),
    }


def _settings(ctx: StudyContext) -> object:
    cfg = ctx.config
    return [cfg.radiomics.model_dump(mode="json", exclude={"workers", "scheduler"}),
            cfg.data.mask_label, cfg.data.min_roi_pixels, cfg.seed]


RADIOMICS = Stage(
    "radiomics", extract, "Handcrafted radiomics + reader reproducibility (ICC)",
    needs=("split",), settings=_settings, reads=StudyContext.image_files,
    writes=("radiomics/*", "tables/radiomics_failures.*", "tables/radiomics_icc.*"),
    outline=Section("Radiomics model", (
        table("radiomics_failures", "Cases whose feature extraction failed"),
    )))
