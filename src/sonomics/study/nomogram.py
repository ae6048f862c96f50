"""Methods 2.9 / Figure 6: the nomogram (DLRN) — logistic regression on the independent
clinical factors and the DLR score, drawn as an rms-style nomogram.

Training patients enter with their out-of-fold DLR score, so the regression is not fitted
to the DLR model's in-sample score. The fitted :class:`Nomogram` is stored and gives the
probabilities of the study's cases and of new patients (``sonomics predict``) alike.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import Model
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, figure, table

log = logging.getLogger(__name__)


def nomogram(ctx: StudyContext) -> None:
    from sonomics.models.nomogram import DLR_SCORE, fit_nomogram, nomogram_design

    run = ctx.run
    clinical = run.fitted(Model.CLINICAL)
    if not clinical:
        reason = run.absent_reason("clinical") or "no clinical model"
        raise StageSkipped(f"no nomogram: {reason}")
    dlr = run.predictions(Model.DLR)
    if dlr is None:
        raise StageSkipped("no nomogram: no DLR predictions")
    cases, split = ctx.cases()
    cases = cases.drop(index=run.meta("clinical").get("not_scored", {}), errors="ignore")
    factors = clinical["model"][:-1].transform(cases)  # the clinical model's factor columns
    score = dlr["oof"].where(dlr["split"] == "train", dlr["prob"])
    data = nomogram_design(factors, score).dropna()
    sides = split.reindex(data.index)
    y = ctx.labels().loc[data.index]
    predictors = [*factors.columns, DLR_SCORE]
    train = data[sides == "train"]
    nomo, fit = fit_nomogram(train, y[sides == "train"], predictors)
    oof = pd.Series(np.nan, index=data.index)
    oof[train.index] = out_of_fold_risk(train, y[train.index], predictors,
                                        ctx.groups().loc[train.index], ctx.config.seed)
    run.save_predictions(Model.NOMOGRAM, pd.DataFrame(
        {"split": sides, "label": y, "prob": nomo.probability(data), "oof": oof},
        index=data.index))
    nomo.figure(title="Nomogram (DLRN)", path=run.figure("nomogram"))
    terms = [nomo.intercept, *nomo.coef.values()]
    coef = pd.DataFrame({"term": ["(intercept)", *nomo.coef], "coefficient": terms,
                         "odds_ratio": np.exp(terms),
                         "p": [float(fit.pvalues.iloc[i]) for i in range(len(terms))]})
    for note in fit.notes:  # a warning on the log (stderr), once; the report repeats it
        log.warning("nomogram: %s", note)
    run.write_table(coef, "nomogram_coefficients",
                    title=f"Nomogram (DLRN): logistic regression on the training set "
                          f"({fit.method})",
                    note="The DLR score of training patients is out-of-fold (5-fold CV), so "
                         "the nomogram is not fitted to the DLR model's in-sample score. "
                         + " ".join(f"{n[0].upper()}{n[1:]}." for n in fit.notes))
    run.write_table(nomo.points_table(), "nomogram_points",
                    title="Nomogram points per predictor value")
    run.write_table(nomo.patient_points(data).assign(split=sides).reset_index(),
                    "nomogram_patient_points", title="Per-patient nomogram points and risk")
    run.save_fitted(Model.NOMOGRAM, {"nomogram": nomo},
                    {"intercept": nomo.intercept, "coef": nomo.coef,
                     "axes": {k: list(map(float, v)) for k, v in nomo.axes.items()},
                     "columns": list(factors.columns), "score": DLR_SCORE,
                     "fit_method": fit.method, "fit_notes": fit.notes})


def out_of_fold_risk(data: pd.DataFrame, y: pd.Series, predictors: list[str],
                     groups: pd.Series, seed: int, folds: int = 5) -> np.ndarray:
    """Each training patient's risk from a nomogram fitted without its patient (grouped
    folds): the honest training estimate and where the cut-off is chosen."""
    from sonomics.data.splits import groups_per_class, training_folds
    from sonomics.models.nomogram import fit_nomogram

    risk = np.full(len(data), np.nan)
    n = min(folds, min(groups_per_class(y, groups)))
    if n < 2:
        return risk
    for fit_idx, held in training_folds(n, groups.to_numpy(), seed).split(data, y, groups):
        nomo, _ = fit_nomogram(data.iloc[fit_idx], y.iloc[fit_idx], predictors)
        risk[held] = nomo.probability(data.iloc[held])
    return risk


NOMOGRAM = Stage(
    "nomogram", nomogram, "Nomogram (DLRN)", needs=("clinical", "fusion"),
    settings=lambda ctx: ctx.config.seed,
    writes=("tables/nomogram_*", "figures/nomogram.png", "predictions/nomogram.csv",
            "models/nomogram.*"),
    outline=Section("Nomogram", (
        figure("nomogram", "Figure 6. Nomogram (DLRN)"),
        table("nomogram_coefficients", "Nomogram coefficients"),
        table("nomogram_points", "Nomogram points per predictor value"),
    )))
