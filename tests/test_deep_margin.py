"""``deep.crop_margin_candidates``: the crop margin chosen per cohort by the fold CNNs'
out-of-fold AUC on the training cases, never by the test set."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from _deep_data import write_cohort
from sonomics.config import ConfigError, StudyConfig
from sonomics.deep import margin as margin_module
from sonomics.deep.margin import choose_crop_margin
from sonomics.deep.oof import OOF_SCORE, FoldCNNs
from sonomics.deep.pipeline import run_deep
from sonomics.deep.train import TrainSettings


def _fake_folds(seen: list, quality: dict[float, float]):
    """out_of_fold_scores stand-in: scores the training cases as well as ``quality`` of
    the margin (read from the crops' size), and the test cases PERFECTLY with the opposite
    sign, so a choice made on test cases would come out reversed."""
    def fake(name, crops, labels, groups, is_train, settings, *, case_ids, **kwargs):
        margin = float(crops[0, 0, 0])
        seen.append((margin, is_train.copy()))
        rng = np.random.default_rng(0)
        score = np.where(rng.random(len(labels)) < quality[margin], labels, 1 - labels)
        score = score + rng.normal(0, 0.01, len(labels))
        score[~is_train] = 1 - labels[~is_train]
        frame = pd.DataFrame({OOF_SCORE: score}, index=pd.Index(case_ids, name="case_id"))
        return FoldCNNs(frame, score, [], [], 0.0)
    return fake


def test_the_best_out_of_fold_auc_on_training_cases_wins(monkeypatch, tmp_path):
    cases = write_cohort(tmp_path / "data", n=24)
    seen: list = []
    quality = {0.0: 0.6, 0.25: 0.9, 0.5: 0.75}

    def crops_marked_by_margin(case_ids, images, masks, *, margin, **kwargs):
        crops = np.full((len(case_ids), 8, 8), margin, dtype=np.float32)
        return margin_module.CropSet(list(case_ids), crops)

    monkeypatch.setattr(margin_module, "load_crops", crops_marked_by_margin)
    monkeypatch.setattr(margin_module, "out_of_fold_scores", _fake_folds(seen, quality))
    choice = choose_crop_margin(
        cases, [0.0, 0.25, 0.5], backbone="resnet18", settings=TrainSettings(), folds=3,
        input_size=8, mask_label=None, mask_channel=False, cache_dir=tmp_path, weights_path=None,
        pretrained=False, progress=False, max_steps=None, isolate=False)
    assert [m for m, _ in seen] == [0.0, 0.25, 0.5]
    is_train = (cases["split"] == "train").to_numpy()
    assert all(np.array_equal(mask, is_train) for _, mask in seen)
    assert choice.margin == 0.25 and set(choice.oof_auc) == {0.0, 0.25, 0.5}
    assert choice.oof_auc[0.25] == max(choice.oof_auc.values()) < 1.0  # not the test AUC
    assert float(choice.crop_set.crops[0, 0, 0]) == 0.25  # the winner's crops go on


def test_margin_candidates_are_validated():
    with pytest.raises(ConfigError, match="crop_margin_candidates"):
        StudyConfig.from_dict({"deep": {"crop_margin_candidates": [0.25]}})
    with pytest.raises(ConfigError, match="crop_margin_candidates"):
        StudyConfig.from_dict({"deep": {"crop_margin_candidates": [0, -0.1]}})
    with pytest.raises(ConfigError, match="pretrain"):
        StudyConfig.from_dict({"deep": {"crop_margin_candidates": [0, 0.25],
                                        "pretrain": {"epochs": 2}}})


def test_the_stage_uses_the_chosen_margin_and_reuses_its_fold_cnns(tmp_path):
    cases = write_cohort(tmp_path / "data", n=24)
    cfg = StudyConfig(deep=dict(backbones=["resnet18"], input_size=32, epochs=2, batch_size=8,
                                val_fraction=0.25, learning_rate=1e-3, isolate=False,
                                crop_margin_candidates=[0.0, 0.5]),
                      fusion=dict(oof_folds=2))
    out = tmp_path / "run"
    result = run_deep(cases, cfg, out, progress=False, pretrained=False)
    summary = json.loads((out / "deep" / "deep_summary.json").read_text())
    aucs = {float(k): v for k, v in summary["crop_margin_oof_auc"].items()}
    assert set(aucs) == {0.0, 0.5}
    winner = max(aucs, key=lambda m: (aucs[m], -list(aucs).index(m)))
    assert summary["crop_margin"] == result.crop_margin == winner
    # the fusion's out-of-fold score is the winning margin's, not a third set of fold CNNs
    oof = pd.read_parquet(out / "deep" / "deep_oof_score.parquet")
    train = cases.index[cases["split"] == "train"]
    assert roc_auc_score(cases.loc[train, "label"], oof.loc[train, OOF_SCORE]) == \
        pytest.approx(aucs[winner])
    cache = out / "cache" / "deep"
    assert {p.name for p in cache.glob("resnet18_oof*")} == {
        "resnet18_oof_margin-0", "resnet18_oof_margin-0.5"}
    assert f"Crop margin {winner:g} chosen by the out-of-fold" in \
        (out / "tables" / "table5_deep.md").read_text()


def test_methods_texts_name_the_margin_the_study_chose():
    compared = StudyConfig(deep={"crop_margin_candidates": [0, 0.25]}).deep
    assert compared.margin_words(0.0) == ("margin 0, chosen among 0, 0.25 by the CNN's "
                                          "out-of-fold training AUC")
    assert compared.margin_words(None).startswith("margin not yet chosen")
    assert StudyConfig(deep={"crop_margin": 0.1}).deep.margin_words() == "margin 0.1"
