"""Cross-validation over a predefined fold column: independent studies, shared feature cache."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from _study_data import tiny_config
from sonomics.data.manifest import CohortError
from sonomics.study.crossval import fold_manifests, run_cross_validation, summarise_folds


def _with_folds(tmp_path, n_folds=3):
    cfg = tiny_config(tmp_path, deep={"epochs": 1, "early_stopping": 1},
                      models={"classifiers": ["LR"]})
    frame = pd.read_csv(cfg.data.manifest)
    rng = np.random.default_rng(3)
    frame["fold"] = 0
    for label in ("benign", "malignant"):  # stratified, like BUS-BRA's official folds
        idx = frame.index[frame["label"] == label]
        frame.loc[idx, "fold"] = (rng.permutation(len(idx)) % n_folds) + 1
    frame.to_csv(cfg.data.manifest, index=False)
    return cfg, frame


def test_fold_manifests_hold_each_fold_out_once(tmp_path):
    cfg, frame = _with_folds(tmp_path)
    paths = fold_manifests(cfg, "fold", tmp_path / "cv")
    assert list(paths) == ["1", "2", "3"]
    tested = []
    for fold, path in paths.items():
        m = pd.read_csv(path)
        test = m[m["split"] == "test"]
        assert set(test["fold"].astype(str)) == {fold}
        assert (m.loc[m["split"] == "train", "fold"].astype(str) != fold).all()
        assert all(pd.io.common.file_exists(p) for p in m["image"])  # absolute paths
        tested += list(test["case_id"])
    assert sorted(tested) == sorted(frame["case_id"])


def test_unknown_fold_column_is_one_clear_error(tmp_path):
    cfg, _ = _with_folds(tmp_path)
    with pytest.raises(CohortError, match="no fold column 'fold9'"):
        fold_manifests(cfg, "fold9", tmp_path / "cv")


def test_summary_is_mean_and_sample_sd_over_folds():
    aucs = pd.DataFrame({"Radiomics": [0.8, 0.9, 0.7]}, index=["1", "2", "3"])
    row = summarise_folds(aucs).iloc[0]
    assert row["Mean AUC"] == "0.800" and row["SD"] == "0.100" and row["Fold 2"] == "0.900"


@pytest.mark.slow
def test_each_fold_is_an_independent_study_sharing_the_feature_cache(tmp_path):
    cfg, frame = _with_folds(tmp_path)
    log = io.StringIO()
    result = run_cross_validation(cfg, "fold", folds=["1", "2"],
                                  console=Console(file=log, width=200))
    assert list(result.aucs.index) == ["1", "2"]
    assert {"Clinical", "Radiomics", "Deep Learning", "DLR", "Nomogram",
            "Shape only (9 features)", "BI-RADS (radiologist)"} <= set(result.aucs.columns)
    assert result.aucs.notna().all().all() and result.aucs.stack().between(0, 1).all()
    for fold in ("1", "2"):
        run = result.out / f"fold-{fold}"
        split = pd.read_csv(run / "split.csv", index_col="case_id")
        want = set(frame.loc[frame["fold"].astype(str) == fold, "case_id"])
        assert set(split.index[split["split"] == "test"]) == want
        assert (run / "cache" / "radiomics").is_symlink()
    # fold 2 takes every reader-1 extraction from the cache fold 1 filled; it computes only
    # the perturbation ratings of its own training cases that fold 1 did not rate
    fold2 = log.getvalue().split("fold 2 (2/2)")[1]
    cached, computed = map(int, re.search(r"(\d+) from cache, (\d+) computed", fold2).groups())
    assert cached >= len(frame) and computed < len(frame)
    summary = pd.read_csv(result.out / "tables" / "cv_auc.csv")
    assert set(summary["Folds"]) == {2}


def test_the_shared_feature_cache_survives_moving_the_run_folder(tmp_path):
    import shutil

    from sonomics.study.crossval import share_feature_cache

    main, fold = tmp_path / "a" / "study", tmp_path / "a" / "study" / "cv" / "fold-1"
    share_feature_cache(main, fold)
    (main / "cache" / "radiomics" / "entry").write_text("x")
    link = fold / "cache" / "radiomics"
    assert (link / "entry").read_text() == "x" and not Path(os.readlink(link)).is_absolute()
    shutil.move(tmp_path / "a", tmp_path / "b")  # a relative link moves with the folder
    moved = tmp_path / "b" / "study" / "cv" / "fold-1" / "cache" / "radiomics"
    assert (moved / "entry").read_text() == "x"
    # an absolute link left dangling by an older run is pointed again, not a crash
    moved.unlink()
    moved.symlink_to(tmp_path / "a" / "study" / "cache" / "radiomics")
    share_feature_cache(tmp_path / "b" / "study", tmp_path / "b" / "study" / "cv" / "fold-1")
    assert (moved / "entry").read_text() == "x"
