"""Out-of-fold CNN scores: what the fusion may learn from when the CNN saw the training set.

The paper fuses the deep features of the training images with handcrafted ones, but those
features come from a network fitted to those very images: on training cases they separate
the classes better than they will on new cases (BUS-BRA: CNN training AUC 0.947, test
0.889), so feature selection and the fusion classifier trust them too much. The remedy is
stacking: split the training cases into K patient-grouped, stratified folds, train one CNN
per fold on the other folds and score the held-out fold. Every training case then carries
a CNN score from a network that never saw it. Feature *vectors* cannot be stacked this way
(each network's features mean something different, above all from random
initialisation); the probability can.

The test (and external) cases, and every new patient ``sonomics predict`` scores, carry the
MEAN of the K fold CNNs' probabilities, not the score of the CNN trained on all training
cases. A CNN trained from random initialisation lands on its own probability scale (where
early stopping caught it, how confident it became): on the demo the full CNN's test scores
sat at a median 0.28 against 0.09 for the out-of-fold ones (calibration-in-the-large -1.92
against -0.81), so the training cut-off chosen on the out-of-fold scores called 44% of the
benign test lesions malignant, and the fusion, fitted on the fold CNNs' scale, read the
full CNN's scores as too high. The fold CNNs' mean is on the scale the cut-off and the
fusion were fitted on (test calibration-in-the-large -0.93; same test AUC, 0.899).

Each fold's CNN checkpoints under ``OUT/cache/deep/<backbone>_oof/fold-<k>`` and resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedGroupKFold

from sonomics.deep.isolated import train_isolated
from sonomics.deep.preprocess import Normaliser
from sonomics.deep.runtime import release_memory
from sonomics.deep.train import TrainSettings, predict_proba
from sonomics.torch_io import cpu_copy

__all__ = ["OOF_SCORE", "FoldCNNs", "fold_mean_proba", "out_of_fold_scores"]

#: column name of the CNN score in the fusion's input (training: out-of-fold)
OOF_SCORE = "deep_score"


@dataclass
class FoldCNNs:
    """The fold CNNs and what they scored."""

    frame: pd.DataFrame  # OOF_SCORE per case: out-of-fold (training), fold mean (others)
    fold_mean: np.ndarray  # the mean of the fold CNNs' probabilities, every case
    states: list[dict[str, torch.Tensor]]  # each fold CNN's weights (CPU)
    normalisers: list[Normaliser]  # each fold CNN's input normaliser
    seconds: float


def out_of_fold_scores(name: str, crops: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                       is_train: np.ndarray, settings: TrainSettings, *, folds: int,
                       checkpoint_root, weights_path=None, pretrained: bool = True,
                       progress: bool = False, max_steps: int | None = None,
                       case_ids: list[str], isolate: bool = False) -> FoldCNNs:
    """Train the K fold CNNs; the fusion's CNN score per case and the fold CNNs themselves."""
    train_idx = np.flatnonzero(is_train)
    y, g = labels[train_idx], groups[train_idx]
    n_splits = min(folds, int(np.bincount(y.astype(int)).min()), len(np.unique(g)))
    if n_splits < 2:
        raise ValueError(f"fusion.oof_folds: too few training cases per class for {folds} "
                         "folds of out-of-fold CNN scores")
    score = np.full(len(labels), np.nan)
    fold_probs, states, normalisers = [], [], []
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=settings.seed)
    tic = time.perf_counter()
    for k, (fit, held) in enumerate(cv.split(np.zeros(len(y)), y, g), 1):
        result = train_isolated(
            name, crops[train_idx[fit]], y[fit], g[fit], settings,
            checkpoint_dir=checkpoint_root / f"fold-{k}", isolate=isolate,
            weights_path=weights_path, pretrained=pretrained, progress=progress,
            max_steps=max_steps)
        prob = predict_proba(result.model, crops, result.normaliser,
                             batch_size=max(32, settings.batch_size))
        score[train_idx[held]] = prob[train_idx[held]]
        fold_probs.append(prob)
        states.append(cpu_copy(result.model.state_dict()))
        normalisers.append(result.normaliser)
        del result  # one fold CNN at a time: its memory goes back before the next trains
        release_memory()
    fold_mean = np.mean(fold_probs, axis=0)
    score[~is_train] = fold_mean[~is_train]
    frame = pd.DataFrame({OOF_SCORE: score}, index=pd.Index(case_ids, name="case_id"))
    return FoldCNNs(frame, fold_mean, states, normalisers, time.perf_counter() - tic)


def fold_mean_proba(nets: list, normalisers: list[Normaliser], crops: np.ndarray) -> np.ndarray:
    """The mean of the fold CNNs' probabilities: the CNN score of a case no fold saw (the
    study's test and external cases, and ``sonomics predict``'s new patients)."""
    return np.mean([predict_proba(net, crops, norm) for net, norm in
                    zip(nets, normalisers, strict=True)], axis=0)
