"""Cross-validated evaluation over a predefined partition (e.g. BUS-BRA's official 5 folds).

Each fold is a complete, independent study: fold *k* is the test set, the other folds are
the training set, and every fitted step (ICC filter, selection, classifiers, CNN, PCA,
nomogram, cut-offs) learns from that training set only. A fold's study lives in
``OUT/cv/fold-<k>/`` and is resumable like any run; the handcrafted-feature cache is shared
between folds (its keys hash the image, mask and settings, so a shared entry is the same
value), so features are extracted once. The summary gives each model's test AUC per fold
and its mean ± SD over folds (``OUT/cv/tables/cv_auc.csv|md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from sonomics.config import StudyConfig
from sonomics.data.manifest import CohortError, load_cohort, read_table
from sonomics.evaluation.delong import auc_delong
from sonomics.io import atomic_path, write_table
from sonomics.rundir import RunDir

__all__ = ["CVResult", "fold_manifests", "run_cross_validation", "summarise_folds"]


@dataclass
class CVResult:
    """Per-fold test AUCs (rows: fold, columns: model) and the summary table."""

    aucs: pd.DataFrame
    summary: pd.DataFrame
    out: Path


def fold_manifests(cfg: StudyConfig, column: str, out: Path) -> dict[str, Path]:
    """Write one manifest per fold value: that fold ``test``, every other fold ``train``.

    Paths in the written manifests are absolute, so they are read from anywhere.
    """
    if cfg.data.manifest is None:
        raise CohortError("config key 'data.manifest' is not set")
    raw = read_table(cfg.data.manifest)
    if column not in raw.columns:
        raise CohortError(f"manifest {cfg.data.manifest}: no fold column {column!r} "
                          f"(columns: {', '.join(map(str, raw.columns))})")
    folds = raw[column]
    if folds.isna().any():
        bad = raw.loc[folds.isna(), cfg.data.case_id].astype(str).head(5).tolist()
        raise CohortError(f"fold column {column!r} is empty for case(s) {', '.join(bad)}")
    cohort = load_cohort(cfg, require_label=True)  # resolves image/mask paths
    ids = raw[cfg.data.case_id].astype(str).str.strip()
    resolved = cohort.table.reindex(ids)
    base = raw.copy()
    for key in ("image", "mask", "mask_reader2"):
        name = getattr(cfg.data, key)
        if name and name in base.columns:
            base[name] = resolved[key].to_numpy()
    split_col = cfg.data.split or "split"
    values = sorted(folds.astype(str).str.strip().unique(), key=_natural)
    if len(values) < 2:
        raise CohortError(f"fold column {column!r} has a single value: nothing to cross-validate")
    paths = {}
    for fold in values:
        frame = base.assign(**{split_col: np.where(folds.astype(str).str.strip() == fold,
                                                   "test", "train")})
        path = out / f"fold-{fold}" / "manifest.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        paths[fold] = path
    return paths


def _natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (10**9, value)


def fold_config(cfg: StudyConfig, manifest: Path, out: Path) -> StudyConfig:
    """The study config of one fold: its manifest's split column is the split."""
    fold = cfg.model_copy(deep=True)
    fold.data.manifest = manifest
    fold.data.split = cfg.data.split or "split"
    fold.split.use_manifest_split = True
    fold.out = out
    return fold


def share_feature_cache(main_out: Path, fold_out: Path) -> None:
    """Point a sub-run's handcrafted-feature cache at the main run's (content-keyed, so an
    entry is the same value whichever study reads it)."""
    shared = RunDir(main_out).cache / "radiomics"
    shared.mkdir(parents=True, exist_ok=True)
    link = RunDir(fold_out).cache / "radiomics"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and (not link.exists() or link.resolve() != shared.resolve()):
        link.unlink()  # dangling or elsewhere (the run folder was moved): point it again
    if not link.exists():
        # relative, so the run folder can be moved or copied whole
        link.symlink_to(os.path.relpath(shared.resolve(), link.parent.resolve()),
                        target_is_directory=True)


def _test_aucs(run: Path) -> dict[str, tuple[float, int]]:
    return {model.label: (auc_delong(test["label"].astype(int), test["prob"])[0], len(test))
            for model, test in RunDir(run).test_predictions() if test["label"].nunique() == 2}


def summarise_folds(aucs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± SD (ddof = 1) and range of each model's test AUC over the folds."""
    rows = []
    for model in aucs.columns:
        values = aucs[model].dropna()
        rows.append({"Model": model, "Folds": len(values),
                     "Mean AUC": f"{values.mean():.3f}",
                     "SD": f"{values.std(ddof=1):.3f}" if len(values) > 1 else "–",
                     "Min": f"{values.min():.3f}", "Max": f"{values.max():.3f}",
                     **{f"Fold {f}": f"{v:.3f}" for f, v in values.items()}})
    return pd.DataFrame(rows)


def run_cross_validation(cfg: StudyConfig, column: str, console: Console | None = None,
                         folds: list[str] | None = None) -> CVResult:
    """Run one study per fold of ``column`` and summarise the test AUCs."""
    from sonomics.study.api import Study

    console = console or Console(stderr=True)
    out = Path(cfg.out) / "cv"
    manifests = fold_manifests(cfg, column, out)
    chosen = folds or list(manifests)
    unknown = [f for f in chosen if f not in manifests]
    if unknown:
        raise CohortError(f"fold(s) {unknown} not in column {column!r} (has {list(manifests)})")
    aucs, sizes = {}, {}
    for i, fold in enumerate(chosen, 1):
        run = out / f"fold-{fold}"
        console.rule(f"fold {fold} ({i}/{len(chosen)}): test = {column} {fold}")
        share_feature_cache(Path(cfg.out), run)
        Study(fold_config(cfg, manifests[fold], run), console=console).run()
        result = _test_aucs(run)
        aucs[fold] = {m: a for m, (a, _) in result.items()}
        sizes[fold] = max((n for _, n in result.values()), default=0)
    table = pd.DataFrame.from_dict(aucs, orient="index")
    table.index.name = "fold"
    summary = summarise_folds(table)
    write_table(summary, out / "tables", "cv_auc",
                title=f"Cross-validated test AUC over the folds of '{column}'",
                note="Each fold is an independent study: the fold is the test set, the other "
                     "folds the training set; nothing is fitted on the test fold. SD over "
                     "folds (ddof = 1). Test cases per fold: "
                     + ", ".join(f"{f}: {n}" for f, n in sizes.items()) + ".")
    return CVResult(table, summary, out)
