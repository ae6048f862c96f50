"""What the clinical, radiomics and DLR stages share: one feature family, fitted and stored.

A family (Tables 3, 4, 6) is one feature set fed to the classifiers; its best classifier
(training CV AUC) is stored as ONE fitted pipeline whose first step picks its input
columns by name, so the study's own scoring and ``sonomics predict`` call the same object.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from sonomics.models.family import positive_proba
from sonomics.rundir import Model
from sonomics.selection.columns import ColumnSelector
from sonomics.study.context import StudyContext


def scoring_pipeline(steps: list[tuple[str, Any]], columns: list[str]) -> Pipeline:
    """Fitted steps behind a column picker: a model that takes a whole table of a case."""
    picker = ColumnSelector(columns)
    picker.columns_ = list(columns)
    return Pipeline([("columns", picker), *steps])


def family_predictions(model: Any, X_train: pd.DataFrame, X_test: pd.DataFrame,
                       y: pd.Series, oof: np.ndarray | None,
                       X_external: pd.DataFrame | None = None) -> pd.DataFrame:
    """Train rows (with the out-of-fold score), test and external rows, scored by the
    stored model."""
    frames = [pd.DataFrame({"split": "train", "label": y.loc[X_train.index],
                            "prob": positive_proba(model, X_train),
                            "oof": oof if oof is not None else np.nan}, index=X_train.index)]
    for side, X in (("test", X_test), ("external", X_external)):
        if X is not None and len(X):
            frames.append(pd.DataFrame({"split": side, "label": y.loc[X.index],
                                        "prob": positive_proba(model, X)}, index=X.index))
    return pd.concat(frames)  # test rows have no out-of-fold score: oof is NaN there


def add_external_rows(fam, X_external: pd.DataFrame | None, y_external: np.ndarray | None,
                      y_train: np.ndarray) -> None:
    """Score the external cases with every classifier of ``fam`` and add their
    ``<classifier>-external`` rows to its table, at the cut-off the table's training rows
    chose (never one chosen on the external cases)."""
    from sonomics.evaluation.metrics import performance_rows
    from sonomics.evaluation.tables import rows_by_set

    if X_external is None or not len(X_external) or len(np.unique(y_external)) < 2:
        return
    from sonomics.evaluation._checks import DegenerateInputError

    rows = [fam.table]
    for name, model in fam.models.items():
        p_ext = positive_proba(model, X_external)
        try:
            rows.append(performance_rows(name, y_train, fam.train_proba[name],
                                         y_external=y_external, s_external=p_ext).iloc[[-1]])
        except DegenerateInputError as exc:  # e.g. one score for every external case
            warnings.warn(f"{fam.family}: no external row for {name}: {exc}", stacklevel=2)
    fam.table = rows_by_set(pd.concat(rows, ignore_index=True))


def roc_of_family(ctx: StudyContext, fam, y_test: np.ndarray, name: str, title: str) -> None:
    from sonomics.evaluation.plots import roc_figure

    if fam.test_proba:
        roc_figure({k: (y_test, p) for k, p in fam.test_proba.items()}, title=title,
                   path=ctx.run.figure(name))


def cv_note(fam) -> str:
    cv = ", ".join(f"{k} {v:.3f}" for k, v in fam.cv_auc.items())
    return (f"Training rows are *apparent*: each classifier scoring the cases it was fitted "
            f"on (optimistic; 1.000 for a model that memorises). Cut-offs (Youden) chosen on "
            f"them and applied unchanged to the test set here; Table 7 re-chooses the final "
            f"model's cut-off on out-of-fold scores. Training CV AUC (folds grouped by "
            f"patient and near-duplicate group): {cv}. "
            f"Best by training CV AUC: **{fam.best}** (the best of several on the same "
            "folds: its CV AUC is optimistic; the test AUC is the estimate).")


def _finite_columns(train: pd.DataFrame) -> list[str]:
    """Columns with finite values on every training case (others cannot be z-scored)."""
    ok = np.isfinite(train.to_numpy(dtype=float)).all(axis=0)
    return [c for c, good in zip(train.columns, ok, strict=True) if good]


def feature_sets(ctx: StudyContext, frame: pd.DataFrame
                 ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Training and test rows of a feature table aligned with labels and split.

    Features with a non-finite value on a training case are dropped; a test case with a
    non-finite value in a kept feature is excluded (and counted on the console).
    """
    table, split = ctx.cases()
    ids = frame.index.intersection(table.index)
    frame = frame.loc[ids]
    y = table.loc[ids, "label"].astype(int).to_numpy()
    s = split.loc[ids].to_numpy()
    frame = frame[_finite_columns(frame[s == "train"])]
    test = frame[s == "test"]
    finite_test = np.isfinite(test.to_numpy(dtype=float)).all(axis=1)
    if not finite_test.all():
        ctx.console.print(f"  {int((~finite_test).sum())} test case(s) with non-finite "
                          "feature values excluded")
    keep = (s == "train") | ((s == "test") & np.isin(frame.index, test.index[finite_test]))
    frame, y, s = frame[keep], y[keep], s[keep]
    return frame[s == "train"], frame[s == "test"], y[s == "train"], y[s == "test"]


def external_set(ctx: StudyContext, frame: pd.DataFrame, columns: list[str]
                 ) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    """The external cases of a feature table (the training set's ``columns``) and their
    labels; a case with a non-finite value is excluded and counted. ``(None, None)`` when
    the cohort has no external set."""
    table, split = ctx.cases()
    ids = frame.index.intersection(table.index)
    ids = ids[(split.loc[ids] == "external").to_numpy()]
    if not len(ids):
        return None, None
    external = frame.loc[ids, columns]
    finite = np.isfinite(external.to_numpy(dtype=float)).all(axis=1)
    if not finite.all():
        ctx.console.print(f"  {int((~finite).sum())} external case(s) with non-finite "
                          "feature values excluded")
    external = external[finite]
    return external, table.loc[external.index, "label"].astype(int).to_numpy()


def _lasso_figures(ctx: StudyContext, model: Any, prefix: str) -> list[str]:
    from sonomics.evaluation.plots import lasso_coef_figure, lasso_cv_figure, lasso_path_figure

    select = model.named_steps.get("select")
    if select is None:
        return []
    lasso = select.named_steps["lasso"]
    lasso_path_figure(lasso, ctx.run.figure(prefix))
    lasso_cv_figure(lasso, ctx.run.figure(f"{prefix}_cv"))
    lasso_coef_figure(lasso, ctx.run.figure(f"{prefix}_coefficients"))
    return [str(c) for c in select.get_feature_names_out()]


def _selection_stability(ctx: StudyContext, model: Any, X_tr: pd.DataFrame, y_tr: np.ndarray,
                         groups: np.ndarray, selected: list[str], name: str,
                         label: str) -> str:
    """Write the selection-frequency table of a family; return a sentence for its note."""
    from sonomics.selection.stability import selection_frequency, stability_table

    resamples = ctx.config.selection.stability_resamples
    select = model.named_steps.get("select")
    if select is None or not resamples or not selected:
        return ""
    freq = selection_frequency(select, X_tr, y_tr, groups, resamples=resamples,
                               random_state=ctx.config.seed)
    used = freq.attrs["resamples"]
    kept = [float(freq.get(f, 0.0)) for f in selected]
    summary = (f"Selection stability: over {used} subsamples of 80% of the training patients "
               f"(the chain refitted, LASSO's lambda fixed), the {len(selected)} selected "
               f"features were selected in a median {np.median(kept):.0%} of them "
               f"(range {min(kept):.0%}-{max(kept):.0%}); "
               f"{sum(k >= 0.5 for k in kept)} of {len(selected)} in at least half.")
    ctx.run.write_table(stability_table(freq, selected), f"selection_stability_{name}",
                        title=f"{label}: selection frequency of the features", note=summary)
    return " " + summary


def feature_family_stage(ctx: StudyContext, model: Model, frame: pd.DataFrame,
                         table_name: str, title: str, lasso_prefix: str,
                         roc_name: str) -> None:
    """Selection chain + classifiers on one feature table; tables, figures, stored model."""
    from sonomics.models.family import feature_family
    from sonomics.study.harmonisation import harmoniser_for, write_site_effects

    cfg = ctx.config
    X_tr, X_te, y_tr, y_te = feature_sets(ctx, frame)
    groups = ctx.groups().loc[X_tr.index].to_numpy()  # one per training row
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        fam = feature_family(X_tr, y_tr, X_te, y_te, family=model.label,
                             selection_cfg=cfg.selection, models_cfg=cfg.models,
                             icc_table=ctx.run.icc(),
                             icc_threshold=cfg.radiomics.icc_threshold, random_state=cfg.seed,
                             groups=groups, harmoniser=harmoniser_for(ctx))
    X_ext, y_ext = external_set(ctx, frame, list(X_tr.columns))
    add_external_rows(fam, X_ext, y_ext, y_tr)
    best = fam.models[fam.best]
    harmonised = write_site_effects(ctx, best, X_tr, X_ext,
                                    lasso_prefix.removeprefix("lasso_"), model.label)
    selected = _lasso_figures(ctx, best, lasso_prefix)
    stability = _selection_stability(ctx, best, X_tr, y_tr, groups, selected,
                                     lasso_prefix.removeprefix("lasso_"), model.label)
    ctx.run.write_table(fam.table, table_name, title=title,
                        note=cv_note(fam) + f" {len(selected)} features selected from "
                             f"{X_tr.shape[1]}: {', '.join(selected)}." + stability
                             + harmonised)
    roc_of_family(ctx, fam, y_te, roc_name, f"{title}, testing set")
    stored = scoring_pipeline([("model", best)], list(X_tr.columns))
    ctx.run.save_predictions(model, family_predictions(stored, X_tr, X_te, ctx.labels(),
                                                       fam.oof_proba, X_ext))
    ctx.run.save_fitted(model, {"model": stored},
                        {"best": fam.best, "features_in": list(X_tr.columns),
                         "selected": selected, "cv_auc": fam.cv_auc})
