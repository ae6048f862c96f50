"""Methods 2.8 / Supplementary Table 1 / Table 3: the clinical model.

Clinical and ultrasound factors are screened by univariable logistic regression, the
candidates enter a multivariable one, and the independent factors feed the classifiers.
Missing values are imputed with training statistics (:class:`ClinicalImputer`); the stored
clinical model is one pipeline — imputation, encoding, factor columns, classifier — used
unchanged by the nomogram stage and by ``sonomics predict``.
"""

from __future__ import annotations

import logging

import pandas as pd
from sklearn.pipeline import Pipeline

from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import Model
from sonomics.study.context import StudyContext
from sonomics.study.families import (
    add_external_rows,
    cv_note,
    family_predictions,
    roc_of_family,
    scoring_pipeline,
)
from sonomics.study.outline import Section, figure, table

log = logging.getLogger(__name__)


def clinical(ctx: StudyContext) -> None:
    from sonomics.models.clinical import ClinicalImputer, clinical_model

    cfg = ctx.config
    cont, cat = cfg.data.continuous, cfg.data.categorical
    if not (cont or cat):
        raise StageSkipped("the cohort has no clinical variables (data.continuous and "
                           "data.categorical are empty): no clinical model and no nomogram")
    cases, split = ctx.cases()
    train, test = cases[(split == "train").to_numpy()], cases[(split == "test").to_numpy()]
    external = cases[(split == "external").to_numpy()]
    imputer = ClinicalImputer(cont, cat).fit(train)
    design_train, design_test = imputer.transform(train), imputer.transform(test)
    others = cases[(split != "train").to_numpy()]
    not_scored = unseen_levels(design_train, imputer.transform(others), cat)
    if not_scored:  # those cases lose their clinical score, not everyone
        test = test.drop(index=list(not_scored), errors="ignore")
        design_test = design_test.drop(index=list(not_scored), errors="ignore")
        external = external.drop(index=list(not_scored), errors="ignore")
        ctx.console.print(f"  [yellow]{len(not_scored)} test/external case(s) not scored by the "
                          "clinical model[/yellow] (a level unseen in training; "
                          "tables/clinical_not_scored.csv)")
        ctx.run.write_table(pd.DataFrame({"case_id": list(not_scored),
                                          "reason": list(not_scored.values())}),
                            "clinical_not_scored",
                            title="Cases the clinical model and the nomogram cannot score")
    reference = {c: str(design_train[c].mode().iloc[0]) for c in cat}
    y = ctx.labels()
    try:
        analysis, fam = clinical_model(design_train, y.loc[train.index], design_test,
                                       y.loc[test.index], continuous=cont, categorical=cat,
                                       cfg=cfg.models, reference=reference,
                                       random_state=cfg.seed,
                                       groups=ctx.groups().loc[train.index].to_numpy())
    except ValueError as exc:
        raise StageSkipped(f"clinical model not built: {exc}") from None
    lacking = factors_missing_on_external(external, analysis.selected_variables)
    if lacking:
        raise StageSkipped(
            f"the external set lacks clinical factor(s) the clinical model needs "
            f"({', '.join(f'{v!r} on every case of {w}' for v, w in lacking.items())}): "
            "no clinical model and no nomogram, rather than a whole site's factor imputed")
    for variable, note in analysis.table.set_index("Variable")["Note"].items():
        if note:
            log.warning("clinical model, %s: %s", variable, note)
    ctx.run.write_table(
        analysis.table, "supp_table1_clinical_lr",
        title="Supplementary Table 1. Univariable and multivariable logistic regression "
              "(training set)",
        note=f"Independent factors (multivariable p < {cfg.models.clinical_p}): "
             f"{', '.join(analysis.selected_variables)}. Reference levels: {reference}. "
             f"{ctx.note() or ''}")
    roc_of_family(ctx, fam, y.loc[test.index].to_numpy(), "roc_clinical",
                  "Clinical models, testing set")
    # one stored pipeline; its steps before the classifier (model[:-1]) give the factor
    # columns the nomogram uses
    model = Pipeline([("impute", imputer), ("encode", analysis.encoder),
                      *scoring_pipeline([], analysis.selected_columns).steps,
                      ("model", fam.models[fam.best])])
    if len(external):
        design_ext = analysis.encoder.transform(imputer.transform(external))
        add_external_rows(fam, design_ext[analysis.selected_columns],
                          y.loc[external.index].to_numpy(), y.loc[train.index].to_numpy())
    ctx.run.write_table(fam.table, "table3_clinical_models",
                        title="Table 3. Performance of the clinical models", note=cv_note(fam))
    ctx.run.save_predictions(Model.CLINICAL,
                             family_predictions(model, train, test, y, fam.oof_proba,
                                                external if len(external) else None))
    ctx.run.save_fitted(Model.CLINICAL, {"model": model},
                        {"best": fam.best, "selected_variables": analysis.selected_variables,
                         "selected_columns": analysis.selected_columns,
                         "impute": imputer.fill_, "reference": reference,
                         "not_scored": not_scored,
                         "continuous": cont, "categorical": cat, "cv_auc": fam.cv_auc,
                         # what a new patient's values are checked against (web page, API)
                         "ranges": {c: [float(v.min()), float(v.max())] for c in cont
                                    if (v := pd.to_numeric(train[c], errors="coerce")
                                        .dropna()).size},
                         "levels": analysis.encoder.levels_, "units": cfg.data.units,
                         "firth_columns": analysis.firth_columns,
                         "sparse_columns": analysis.sparse_columns})


def factors_missing_on_external(external: pd.DataFrame, variables: list[str]
                                ) -> dict[str, str]:
    """variable -> the external site(s) where no case has a value for it (imputing a whole
    site's factor from training statistics would be invention, not validation)."""
    if not len(external):
        return {}
    sites = (external["site"].fillna("the external set") if "site" in external
             else pd.Series("the external set", index=external.index))
    lacking: dict[str, str] = {}
    for variable in variables:
        empty = [str(site) for site, rows in external.groupby(sites)
                 if rows[variable].isna().all()]
        if empty:
            lacking[variable] = ", ".join(empty)
    return lacking


def unseen_levels(train: pd.DataFrame, other: pd.DataFrame, categorical: list[str]
                  ) -> dict[str, str]:
    """case_id -> why the clinical model cannot score it: a categorical level (after
    imputation) that no training case has, so it has no coefficient."""
    reasons: dict[str, str] = {}
    for col in categorical:
        levels = set(train[col].astype(str))
        for cid, value in other[col].astype(str).items():
            if value not in levels:
                reasons.setdefault(str(cid), f"case {cid}, field '{col}': level {value!r} "
                                             "not seen in training")
    return reasons


def _settings(ctx: StudyContext) -> object:
    cfg = ctx.config
    return [cfg.models.model_dump(mode="json"), cfg.seed]


CLINICAL = Stage(
    "clinical", clinical, "Clinical model (Table 3)", needs=("split",), settings=_settings,
    writes=("tables/supp_table1_clinical_lr.*", "tables/table3_clinical_models.*",
            "figures/roc_clinical.png", "predictions/clinical.csv", "models/clinical.*",
            "tables/clinical_not_scored.*"),
    outline=Section("Clinical model", (
        table("supp_table1_clinical_lr", "Supplementary Table 1. Univariable and "
                                         "multivariable logistic regression"),
        table("table3_clinical_models", "Table 3. Performance of the clinical models"),
        figure("roc_clinical", "Supplementary Figure 1. ROC curves of the clinical models"),
    )))
