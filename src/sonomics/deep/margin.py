"""Choosing the ROI crop's context margin per cohort, by the CNN's out-of-fold training AUC.

How much tissue around the lesion a CNN should see depends on the cohort: on the synthetic
demo, whose malignant signal includes a peritumoural rim, a margin of 0.25 of the ROI's
size helps; on BrEaST-Lesions-USG it made no difference beyond noise (out-of-fold AUC
0.734 with it, 0.712 without, in one run; ``benchmarks/real_data.md``), and comparing
margins across separate runs is confounded by the epochs each run's time budget allowed.
So ``deep.crop_margin_candidates`` lets the study compare margins the honest way: for each,
the fold CNNs of :mod:`sonomics.deep.oof` (patient-grouped folds of the TRAINING cases
only) score the held-out folds, and the margin with the highest out-of-fold AUC is used
for everything after (ties: the first listed). The test set chooses nothing. The winner's
fold CNNs are kept: they are the study's fold CNNs when the same backbone is chosen, so
the comparison costs one set of fold CNNs per extra candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from sonomics.deep.dataset import CropSet, load_crops
from sonomics.deep.oof import OOF_SCORE, FoldCNNs, out_of_fold_scores
from sonomics.deep.train import TrainSettings

__all__ = ["MarginChoice", "choose_crop_margin", "margin_note"]


@dataclass
class MarginChoice:
    """The margin chosen, every candidate's out-of-fold AUC, and the winner's crops and
    fold CNNs (trained with ``backbone``)."""

    margin: float
    oof_auc: dict[float, float]
    backbone: str
    crop_set: CropSet
    folds: FoldCNNs


def choose_crop_margin(frame: pd.DataFrame, candidates: list[float], *, backbone: str,
                       settings: TrainSettings, folds: int, input_size: int,
                       mask_label: int | None, mask_channel: bool, cache_dir: Path,
                       weights_path: Path | None, pretrained: bool, progress: bool,
                       max_steps: int | None, isolate: bool) -> MarginChoice:
    """Fold CNNs per candidate margin on the training cases of ``frame`` (columns
    ``image``, ``mask``, ``label``, ``patient_id``, ``split``); the best out-of-fold AUC wins."""
    best: MarginChoice | None = None
    aucs: dict[float, float] = {}
    for margin in candidates:
        crop_set = load_crops(list(frame.index), list(frame["image"]), list(frame["mask"]),
                              size=input_size, margin=margin, mask_label=mask_label,
                              mask_channel=mask_channel, cache_dir=cache_dir)
        cases = frame.loc[crop_set.case_ids]
        labels = cases["label"].to_numpy()
        is_train = (cases["split"] == "train").to_numpy()
        fold_cnns = out_of_fold_scores(
            backbone, crop_set.crops, labels, cases["patient_id"].astype(str).to_numpy(),
            is_train, settings, folds=folds,
            checkpoint_root=cache_dir / f"{backbone}_oof_margin-{margin:g}",
            weights_path=weights_path, pretrained=pretrained, progress=progress,
            max_steps=max_steps, case_ids=crop_set.case_ids, isolate=isolate)
        score = fold_cnns.frame[OOF_SCORE].to_numpy()[is_train]
        aucs[margin] = float(roc_auc_score(labels[is_train], score))
        if best is None or aucs[margin] > aucs[best.margin]:
            best = MarginChoice(margin, aucs, backbone, crop_set, fold_cnns)
        else:
            del fold_cnns, crop_set
    assert best is not None  # the config refuses an empty list
    return best


def margin_note(choice: MarginChoice) -> str:
    """One sentence for Table 5's note: which margin, chosen how, against what."""
    listed = ", ".join(f"{m:g}: {auc:.3f}" for m, auc in choice.oof_auc.items())
    return (f" Crop margin {choice.margin:g} chosen by the out-of-fold training AUC of "
            f"{choice.backbone} fold CNNs (training cases only; deep.crop_margin_candidates "
            f"{listed}).")

