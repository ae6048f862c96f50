"""Comparators (Table 8, not in the paper): the radiologist's BI-RADS category alone and the
lesion's 2D shape alone, fitted on training cases and judged beside every model. They
read what the study made and never feed it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sonomics.evaluation.tables import rows_by_set
from sonomics.models.family import positive_proba
from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import COMPARATORS, Model
from sonomics.study.context import StudyContext
from sonomics.study.families import external_set, feature_sets
from sonomics.study.outline import Section, figure, table


def _birads_scores(ctx: StudyContext, column: str) -> tuple[pd.Series, int] | str:
    """BI-RADS ordinal scores by case id and the number of category-6 entries removed,
    or the reason there are none."""
    from sonomics.data.manifest import read_table
    from sonomics.models.comparators import birads_score, is_known_cancer

    source = ctx.cohort().source
    raw = read_table(source) if source is not None else pd.DataFrame()
    if column not in raw.columns:
        return f"the manifest has no BI-RADS column {column!r} (comparators.birads)"
    ids = raw[ctx.config.data.case_id].astype(str).str.strip()
    keep = ~ids.duplicated(keep=False).to_numpy()  # duplicated ids are excluded cases
    scores = pd.Series([birads_score(v) for v in raw[column]], index=ids, dtype=float)[keep]
    usable = ids[keep].isin(ctx.cohort().usable().index).to_numpy()
    known = int(sum(is_known_cancer(v) for v, u in zip(raw[column][keep], usable,
                                                        strict=True) if u))
    return scores, known


def _predictions(ctx: StudyContext, model, X_tr: pd.DataFrame, X_te: pd.DataFrame,
                 X_ex: pd.DataFrame | None = None) -> pd.DataFrame:
    """Training rows (with out-of-fold scores from patient-grouped folds), test and
    external rows."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_predict

    from sonomics.data.splits import groups_per_class, training_folds

    y, split = ctx.labels(), ctx.cases()[1]
    groups = ctx.groups().loc[X_tr.index].to_numpy()
    y_tr = y.loc[X_tr.index].to_numpy()
    folds = training_folds(min(5, min(groups_per_class(y_tr, groups))), groups,
                           ctx.config.seed)
    oof = cross_val_predict(clone(model), X_tr, y_tr, cv=folds, groups=groups,
                            method="predict_proba")[:, 1]
    parts = [pd.DataFrame({"split": split.loc[X.index], "label": y.loc[X.index],
                           "prob": positive_proba(model, X)}, index=X.index)
             for X in (X_tr, X_te, X_ex) if X is not None and len(X)]
    parts[0]["oof"] = oof
    return pd.concat(parts)


def comparators(ctx: StudyContext) -> None:
    """BI-RADS-only and shape-only models, fitted on training cases (see models.comparators)."""
    from sonomics.models.comparators import fit_birads, fit_shape_only, shape_columns

    cfg = ctx.config
    cases, split = ctx.cases()
    y = ctx.labels()
    objects: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    reasons: list[str] = []
    if cfg.comparators.birads:
        found = _birads_scores(ctx, cfg.comparators.birads)
        if isinstance(found, str):
            reasons.append(found)
        else:
            scores, known_cancer = found
            X = scores.reindex(cases.index).to_frame("birads_score").dropna()
            side = split.loc[X.index]
            X_tr, X_te, X_ex = X[side == "train"], X[side == "test"], X[side == "external"]
            if y.loc[X_tr.index].nunique() < 2:
                reasons.append("BI-RADS: training cases with a category hold one class only")
            elif X_tr["birads_score"].nunique() < 2 or X_te["birads_score"].nunique() < 2:
                reasons.append("BI-RADS: one category only in the training or the test set, "
                               "so it ranks nothing (comparator not fitted)")
            else:
                objects[Model.BIRADS] = fit_birads(X_tr, y.loc[X_tr.index].to_numpy())
                ctx.run.save_predictions(Model.BIRADS, _predictions(
                    ctx, objects[Model.BIRADS], X_tr, X_te, X_ex))
                meta[Model.BIRADS] = {"column": cfg.comparators.birads,
                                      "cases_without_category": int(len(cases) - len(X)),
                                      "birads6_removed": known_cancer}
    if cfg.comparators.shape_only:
        features = ctx.run.features(ctx.run.radiomics_features)
        cols = shape_columns(features.columns) if features is not None else []
        if not cols:
            reasons.append("no 2D shape features in the radiomics table")
        else:
            X_tr, X_te, _, _ = feature_sets(ctx, features[cols])
            X_ex, _ = external_set(ctx, features[cols], list(X_tr.columns))
            objects[Model.SHAPE] = fit_shape_only(X_tr, y.loc[X_tr.index].to_numpy(), cfg.seed)
            ctx.run.save_predictions(Model.SHAPE, _predictions(
                ctx, objects[Model.SHAPE], X_tr, X_te, X_ex))
            meta[Model.SHAPE] = {"features": list(X_tr.columns)}
    if not objects:
        raise StageSkipped("; ".join(reasons) or "no comparator requested")
    ctx.run.save_fitted("comparators", {str(k): v for k, v in objects.items()},
                        {str(k): v for k, v in meta.items()})
    for reason in reasons:
        ctx.console.print(f"  [yellow]comparator skipped:[/yellow] {reason}")


def _delong_row(model: str, comparator: str, te: pd.DataFrame, f: pd.DataFrame,
                side: str = "test") -> dict:
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.delong import delong_test
    from sonomics.evaluation.metrics import format_p

    ids = te.index.intersection(f.index[f["split"] == side])
    row = {"Model": model, "Comparator": comparator,
           "Set": "testing" if side == "test" else side, "Cases": len(ids)}
    try:
        t = delong_test(te.loc[ids, "label"].astype(int), f.loc[ids, "prob"],
                        te.loc[ids, "prob"])
    except DegenerateInputError as exc:  # reported, never a NaN in the table
        return {**row, "AUC model": "–", "AUC comparator": "–", "Z": "–",
                "P": f"not computable: {exc}"}
    return {**row, "AUC model": f"{t.auc_a:.3f}", "AUC comparator": f"{t.auc_b:.3f}",
            "Z": f"{t.z:.3f}", "P": format_p(t.p), "_p": t.p}


def _holm(p: pd.Series) -> list[str]:
    """Holm-adjusted p-values of the computable tests ("–" where a test was not)."""
    from statsmodels.stats.multitest import multipletests

    from sonomics.evaluation.metrics import format_p

    values = pd.to_numeric(p, errors="coerce")
    ok = values.notna().to_numpy()
    out = ["–"] * len(values)
    if ok.any():
        for i, q in zip(np.flatnonzero(ok), multipletests(values[ok], method="holm")[1],
                        strict=True):
            out[i] = format_p(q)
    return out


def _birads6_note(ctx: StudyContext) -> str:
    meta = (ctx.run.meta("comparators") or {}).get(str(Model.BIRADS), {})
    n = meta.get("birads6_removed", 0)
    return (f"{n} case(s) of category 6, biopsy-proven cancer, removed: it would leak the "
            "label")


def comparator_tables(ctx: StudyContext, frames: dict[str, pd.DataFrame]) -> None:
    """Table 8: comparators beside the study's models, each DeLong-tested on shared test cases."""
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.metrics import performance_rows
    from sonomics.evaluation.plots import roc_figure

    comps = {m.label: p for m in COMPARATORS if (p := ctx.run.predictions(m)) is not None}
    if not comps:
        return
    rows, tests, curves = [], [], {}
    for name, c in comps.items():
        tr, te = c[c["split"] == "train"], c[c["split"] == "test"]
        ex = c[c["split"] == "external"]
        oof = tr["oof"] if "oof" in tr and tr["oof"].notna().all() else None
        external = ({"y_external": ex["label"].astype(int), "s_external": ex["prob"]}
                    if ex["label"].nunique() == 2 else {})
        try:
            rows.append(performance_rows(name, tr["label"].astype(int), tr["prob"],
                                         te["label"].astype(int), te["prob"],
                                         s_train_oof=oof, label_apparent=True, **external))
        except DegenerateInputError as exc:  # a degenerate comparator is reported, not fatal
            ctx.console.print(f"  [yellow]comparator {name} not evaluated:[/yellow] {exc}")
            continue
        curves[name] = (te["label"].astype(int).to_numpy(), te["prob"].to_numpy())
        tests.extend(_delong_row(model, name, te, f) for model, f in frames.items())
        if external:
            tests.extend(_delong_row(model, name, ex, f, "external")
                         for model, f in frames.items())
    if not rows:
        return
    ctx.run.write_table(
        rows_by_set(pd.concat(rows, ignore_index=True)), "table8_comparators",
        title="Table 8. Comparator models (not part of the nomogram)",
        note="BI-RADS: the radiologist's assessment category as an ordinal score (a "
             "univariable logistic regression on training cases; its AUC is the category's "
             f"own); categories 0 and 6 carry no score ({_birads6_note(ctx)}). Shape only: "
             "the 2D shape features of the reader-1 mask (nine with "
             "pyradiomics shape2D). Cut-offs chosen on the out-of-fold training scores "
             "(patient-grouped folds). Each comparator is scored on the cases it covers.")
    tests = pd.DataFrame(tests)
    tests["P (Holm)"] = _holm(tests.pop("_p") if "_p" in tests
                              else pd.Series(np.nan, index=tests.index))
    ctx.run.write_table(tests, "delong_comparators",
                        title="DeLong tests, each model against each comparator",
                        note="Z > 0: the model has the larger AUC. Paired on the cases of "
                             f"the set both scored. {len(tests)} tests: read conclusions from the "
                             "Holm-adjusted p-values.")
    for model, f in frames.items():
        te = f[f["split"] == "test"]
        curves[model] = (te["label"].astype(int).to_numpy(), te["prob"].to_numpy())
    roc_figure(curves, title="ROC curves with comparators, testing set",
               path=ctx.run.figure("roc_comparators_test"))


def _settings(ctx: StudyContext) -> object:
    return [ctx.config.comparators.model_dump(mode="json"), ctx.config.seed]


COMPARATOR_STAGE = Stage(
    "comparators", comparators, "Comparator models: BI-RADS alone, shape alone",
    needs=("radiomics",), settings=_settings,
    writes=("predictions/birads.csv", "predictions/shape.csv", "models/comparators.*"),
    outline=Section("Comparator models", (
        table("table8_comparators", "Table 8. BI-RADS and shape-only comparator models"),
        table("delong_comparators", "DeLong tests against the comparators, testing set"),
        figure("roc_comparators_test", "ROC curves with the comparators, testing set"),
    )))
