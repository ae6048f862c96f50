"""Is the CNN's test score on the scale its training cut-off was chosen on?

For a finished run: the out-of-fold training scores (fold CNNs), the full CNN's test
scores (Table 5's CNN, ``tables/deep_scores.csv``) and the deep-learning model's test
scores (``predictions/deep.csv``: the mean of the fold CNNs), each with its AUC,
calibration-in-the-large (logistic intercept with the score's logit as offset; 0 = right
mean risk), median and the sensitivity/specificity at the Youden cut-off of the
out-of-fold training scores (the cut-off Table 7 applies).

    python benchmarks/cnn_score_scale.py RUN_DIR
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

from sonomics.evaluation.metrics import youden_threshold


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> float:
    fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(),
                 offset=_logit(p)).fit()
    return float(fit.params[0])


def main(run: str) -> None:
    full = pd.read_csv(f"{run}/tables/deep_scores.csv", index_col="case_id")
    pred = pd.read_csv(f"{run}/predictions/deep.csv", index_col="case_id")
    backbone = [c for c in full.columns if c not in ("split", "label")][0]
    train, test = pred["split"] == "train", pred["split"] == "test"
    y = pred["label"].astype(int)
    cut = youden_threshold(y[train], pred.loc[train, "oof"])
    for name, score in (("out-of-fold, training", pred.loc[train, "oof"]),
                        ("full CNN, test", full.loc[test, backbone]),
                        ("deep-learning model, test", pred.loc[test, "prob"])):
        yy, p = y[score.index].to_numpy(), score.to_numpy()
        called = p >= cut
        print(f"{name:26s} AUC {roc_auc_score(yy, p):.3f}  "
              f"CITL {calibration_in_the_large(yy, p):+.2f}  median {np.median(p):.2f}  "
              f"sens {called[yy == 1].mean():.2f} spec {(~called[yy == 0]).mean():.2f}  "
              f"(cut-off {cut:.3f})")


if __name__ == "__main__":
    main(sys.argv[1])
