"""Out-of-fold CNN scores: what the fusion may learn from when the CNN saw the training set.

The paper fuses the deep features of the training images with handcrafted ones, but those
features come from a network fitted to those very images: on training cases they separate
the classes better than they will on new cases (BUS-BRA: CNN training AUC 0.947, test
0.889), so feature selection and the fusion classifier trust them too much. The remedy is
stacking: split the training cases into K patient-grouped, stratified folds, train one CNN
per fold on the other folds and score the held-out fold. Every training case then carries
a CNN score from a network that never saw it; the test (and external) cases carry the
score of the CNN trained on all training cases, which is also what ``sonomics predict``
computes. Feature *vectors* cannot be stacked this way (each network's features mean
something different, above all from random initialisation); the probability can.

Each fold's CNN checkpoints under ``OUT/cache/deep/<backbone>_oof/fold-<k>`` and resumes.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from sonomics.deep.isolated import train_isolated
from sonomics.deep.runtime import release_memory
from sonomics.deep.train import TrainSettings, predict_proba

__all__ = ["OOF_SCORE", "out_of_fold_scores"]

#: column name of the CNN score in the fusion's input (training: out-of-fold)
OOF_SCORE = "deep_score"


def out_of_fold_scores(name: str, crops: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                       is_train: np.ndarray, full_scores: np.ndarray, settings: TrainSettings,
                       *, folds: int, checkpoint_root, weights_path=None, pretrained: bool = True,
                       progress: bool = False, max_steps: int | None = None,
                       case_ids: list[str], isolate: bool = False
                       ) -> tuple[pd.DataFrame, float]:
    """The fusion's CNN score per case, and the seconds the fold CNNs took.

    Training cases get the score of the fold CNN that did not see them; the others get
    ``full_scores`` (the CNN trained on every training case).
    """
    train_idx = np.flatnonzero(is_train)
    y, g = labels[train_idx], groups[train_idx]
    n_splits = min(folds, int(np.bincount(y.astype(int)).min()), len(np.unique(g)))
    if n_splits < 2:
        raise ValueError(f"fusion.oof_folds: too few training cases per class for {folds} "
                         "folds of out-of-fold CNN scores")
    score = np.asarray(full_scores, dtype=float).copy()
    score[train_idx] = np.nan
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=settings.seed)
    tic = time.perf_counter()
    for k, (fit, held) in enumerate(cv.split(np.zeros(len(y)), y, g), 1):
        result = train_isolated(
            name, crops[train_idx[fit]], y[fit], g[fit], settings,
            checkpoint_dir=checkpoint_root / f"fold-{k}", isolate=isolate,
            weights_path=weights_path, pretrained=pretrained, progress=progress,
            max_steps=max_steps)
        score[train_idx[held]] = predict_proba(result.model, crops[train_idx[held]],
                                               result.normaliser,
                                               batch_size=max(32, settings.batch_size))
        del result  # one fold CNN at a time: its memory goes back before the next trains
        release_memory()
    frame = pd.DataFrame({OOF_SCORE: score}, index=pd.Index(case_ids, name="case_id"))
    return frame, time.perf_counter() - tic
