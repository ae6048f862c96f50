"""The comparator stage and its tables: BI-RADS alone and shape alone beside the study's models.

Kept apart from :mod:`sonomics.stages` (the paper's pipeline): comparators read what the
pipeline wrote and never feed it. Fitted on training cases only, like every model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from sonomics.io import write_table
from sonomics.stages import (
    COMPARATOR_LABELS,
    StageSkipped,
    feature_sets,
    load_predictions,
    predictions_path,
    save_models,
    save_predictions,
    split_frames,
)

if TYPE_CHECKING:
    from sonomics.study import Study


def _birads_scores(study: Study, column: str) -> pd.Series | str:
    """BI-RADS ordinal scores by case id, or the reason there are none."""
    from sonomics.data.manifest import read_table
    from sonomics.models.comparators import birads_score

    source = study.cohort().source
    raw = read_table(source) if source is not None else pd.DataFrame()
    if column not in raw.columns:
        return f"the manifest has no BI-RADS column {column!r} (comparators.birads)"
    ids = raw[study.config.data.case_id].astype(str).str.strip()
    return pd.Series([birads_score(v) for v in raw[column]], index=ids, dtype=float)


def _comparator_predictions(model, X_tr: pd.DataFrame, X_te: pd.DataFrame, y: pd.Series,
                            split: pd.Series) -> pd.DataFrame:
    parts = [pd.DataFrame({"split": split.loc[X.index], "label": y.loc[X.index],
                           "prob": model.predict_proba(X)[:, 1]}, index=X.index)
             for X in (X_tr, X_te) if len(X)]
    return pd.concat(parts)


def stage_comparators(study: Study) -> None:
    """BI-RADS-only and shape-only models, fitted on training cases (see models.comparators)."""
    from sonomics.models.comparators import fit_birads, fit_shape_only, shape_columns

    cfg = study.config
    table, split = split_frames(study)
    y = table["label"].astype(int)
    objects: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    reasons: list[str] = []
    for name in COMPARATOR_LABELS:  # a rerun with a comparator switched off leaves none behind
        predictions_path(study, name).unlink(missing_ok=True)
    for suffix in (".skops", ".json"):
        (study.out / "models" / f"comparators{suffix}").unlink(missing_ok=True)
    if cfg.comparators.birads:
        scores = _birads_scores(study, cfg.comparators.birads)
        if isinstance(scores, str):
            reasons.append(scores)
        else:
            X = scores.reindex(table.index).to_frame("birads_score").dropna()
            X_tr, X_te = X[split.loc[X.index] == "train"], X[split.loc[X.index] == "test"]
            if y.loc[X_tr.index].nunique() < 2:
                reasons.append("BI-RADS: training cases with a category hold one class only")
            else:
                objects["birads"] = fit_birads(X_tr, y.loc[X_tr.index].to_numpy())
                save_predictions(study, "birads", _comparator_predictions(
                    objects["birads"], X_tr, X_te, y, split))
                meta["birads"] = {"column": cfg.comparators.birads,
                                  "cases_without_category": int(len(table) - len(X))}
    if cfg.comparators.shape_only:
        path = study.out / "radiomics" / "features.parquet"
        features = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        features.index = features.index.astype(str)
        cols = shape_columns(features.columns)
        if not cols:
            reasons.append("no 2D shape features in the radiomics table")
        else:
            X_tr, X_te, _, _ = feature_sets(study, features[cols])
            objects["shape"] = fit_shape_only(X_tr, y.loc[X_tr.index].to_numpy(), cfg.seed)
            save_predictions(study, "shape", _comparator_predictions(
                objects["shape"], X_tr, X_te, y, split))
            meta["shape"] = {"features": list(X_tr.columns)}
    if not objects:
        raise StageSkipped("; ".join(reasons) or "no comparator requested")
    save_models(study, "comparators", objects, meta)
    for reason in reasons:
        study.console.print(f"  [yellow]comparator skipped:[/yellow] {reason}")


def comparator_tables(study: Study, frames: dict[str, pd.DataFrame]) -> None:
    """Table 8: comparators beside the study's models, each DeLong-tested on shared test cases."""
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.delong import delong_test
    from sonomics.evaluation.metrics import performance_rows
    from sonomics.evaluation.plots import roc_figure

    comps = {label: p for key, label in COMPARATOR_LABELS.items()
             if (p := load_predictions(study, key)) is not None}
    for stale in ("table8_comparators", "delong_comparators"):
        for suffix in (".csv", ".md"):
            (study.tables_dir / f"{stale}{suffix}").unlink(missing_ok=True)
    if not comps:
        return
    rows, tests, curves = [], [], {}
    for name, c in comps.items():
        tr, te = c[c["split"] == "train"], c[c["split"] == "test"]
        rows.append(performance_rows(name, tr["label"].astype(int), tr["prob"],
                                     te["label"].astype(int), te["prob"]))
        curves[name] = (te["label"].astype(int).to_numpy(), te["prob"].to_numpy())
        for model, f in frames.items():
            ids = te.index.intersection(f.index[f["split"] == "test"])
            try:
                t = delong_test(te.loc[ids, "label"].astype(int), f.loc[ids, "prob"],
                                te.loc[ids, "prob"])
            except DegenerateInputError as exc:  # reported, never a NaN in the table
                tests.append({"Model": model, "Comparator": name, "Test cases": len(ids),
                              "AUC model": "–", "AUC comparator": "–", "Z": "–",
                              "P": f"not computable: {exc}"})
                continue
            tests.append({"Model": model, "Comparator": name, "Test cases": len(ids),
                          "AUC model": f"{t.auc_a:.3f}", "AUC comparator": f"{t.auc_b:.3f}",
                          "Z": f"{t.z:.3f}", "P": f"{t.p:.3f}"})
    table = pd.concat(rows, ignore_index=True)
    order = table["Model"].str.endswith("-testing").to_numpy()
    write_table(pd.concat([table[~order], table[order]], ignore_index=True), study.tables_dir,
                "table8_comparators", title="Table 8. Comparator models (not part of the "
                "nomogram)", note="BI-RADS: the radiologist's assessment category as an ordinal "
                "score (a univariable logistic regression on training cases; its AUC is the "
                "category's own). Shape only: the 2D shape features of the reader-1 mask "
                "(nine with pyradiomics shape2D). Cut-offs chosen on the training set. Each "
                "comparator is scored on the cases it covers.")
    write_table(pd.DataFrame(tests), study.tables_dir, "delong_comparators",
                title="DeLong tests, each model against each comparator (testing set)",
                note="Z > 0: the model has the larger AUC. Paired on the test cases both "
                     "scored.")
    for model, f in frames.items():
        te = f[f["split"] == "test"]
        curves[model] = (te["label"].astype(int).to_numpy(), te["prob"].to_numpy())
    roc_figure(curves, title="ROC curves with comparators, testing set",
               path=study.figures_dir / "roc_comparators_test.png")
