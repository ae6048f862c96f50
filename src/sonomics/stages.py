"""The study's stages after the split: clinical, radiomics, deep, fusion, nomogram, evaluation.

Each stage reads what earlier stages wrote into the run directory and writes
its own products there, so every stage can run in a fresh process (that is
what makes ``sonomics run`` resumable):

* ``predictions/<model>.csv`` — case_id, split, label, prob (and ``oof`` for the
  training cases where a model's score feeds a later model);
* ``models/<stage>.skops`` + ``models/<stage>.json`` — fitted objects and plain
  metadata, later packed into the prediction bundle;
* ``tables/*.csv|.md`` and ``figures/*.png`` — what the report shows.

Nothing here looks at the test labels before the final evaluation: every
fitted object (imputation, encoding, selection, classifiers, PCA, the
nomogram's regression, cut-offs) is fitted on training cases only.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sonomics.io import atomic_path, atomic_write_bytes, atomic_write_text, write_table

if TYPE_CHECKING:
    from sonomics.study import Study

MODEL_LABELS = {"clinical": "Clinical", "radiomics": "Radiomics", "deep": "Deep Learning",
                "dlr": "DLR", "nomogram": "Nomogram"}
#: comparator models (not the paper's): evaluated beside Table 7, never fed to the nomogram
COMPARATOR_LABELS = {"birads": "BI-RADS (radiologist)", "shape": "Shape only (9 features)"}


class StageSkipped(Exception):
    """A stage cannot run for this cohort (the reason goes into the report)."""


# ----------------------------------------------------------------- helpers
def predictions_path(study: Study, model: str) -> Path:
    return study.out / "predictions" / f"{model}.csv"


def save_predictions(study: Study, model: str, frame: pd.DataFrame) -> None:
    """Store a model's probabilities (index case_id; columns split, label, prob[, oof])."""
    frame = frame.copy()
    frame.index.name = "case_id"
    atomic_write_text(predictions_path(study, model), frame.to_csv())


def load_predictions(study: Study, model: str) -> pd.DataFrame | None:
    path = predictions_path(study, model)
    if not path.exists():
        return None
    return pd.read_csv(path, index_col="case_id", dtype={"case_id": str})


def test_predictions(run: Path) -> Iterator[tuple[str, pd.DataFrame]]:
    """(label, test rows) of every model and comparator a run directory holds predictions of."""
    for key, label in {**MODEL_LABELS, **COMPARATOR_LABELS}.items():
        path = run / "predictions" / f"{key}.csv"
        if path.exists():
            pred = pd.read_csv(path, index_col="case_id", dtype={"case_id": str})
            yield label, pred[pred["split"] == "test"]


def save_models(study: Study, stage: str, objects: dict[str, Any], meta: dict[str, Any]) -> None:
    """Fitted objects (skops, no pickle) and plain metadata (JSON) of a stage."""
    import skops.io as sio

    from sonomics.bundle import json_default

    atomic_write_bytes(study.out / "models" / f"{stage}.skops", sio.dumps(objects))
    atomic_write_text(study.out / "models" / f"{stage}.json",
                      json.dumps(meta, indent=2, default=json_default))


def load_models(study: Study, stage: str) -> dict[str, Any]:
    """The fitted objects a stage saved (trusted types only; empty when it saved none)."""
    from sonomics.bundle import load_skops

    path = study.out / "models" / f"{stage}.skops"
    return load_skops(path) if path.exists() else {}


def load_meta(study: Study, stage: str) -> dict[str, Any] | None:
    path = study.out / "models" / f"{stage}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _absent(study: Study, stage: str, reason: str) -> None:
    """Record why a stage produced nothing (shown in the report), and clear stale outputs."""
    atomic_write_text(study.out / "models" / f"{stage}.absent", reason)
    study.console.print(f"  [yellow]skipped:[/yellow] {reason}")


def absent_reason(study: Study, stage: str) -> str | None:
    path = study.out / "models" / f"{stage}.absent"
    return path.read_text() if path.exists() else None


def _clear_absent(study: Study, stage: str) -> None:
    (study.out / "models" / f"{stage}.absent").unlink(missing_ok=True)


def split_frames(study: Study) -> tuple[pd.DataFrame, pd.Series]:
    table = study.cohort().usable()
    split = study.split().reindex(table.index)
    return table, split


def _family_predictions(fam, index_train, index_test, y_train, y_test) -> pd.DataFrame:
    """Probabilities of a family's best classifier for train (with OOF) and test."""
    best = fam.best
    train = pd.DataFrame({"split": "train", "label": y_train, "prob": fam.train_proba[best],
                          "oof": fam.oof_proba if fam.oof_proba is not None else np.nan},
                         index=index_train)
    frames = [train]
    if index_test is not None and len(index_test):
        frames.append(pd.DataFrame({"split": "test", "label": y_test,
                                    "prob": fam.test_proba[best]}, index=index_test))
    return pd.concat(frames)  # test rows get oof = NaN: they have no out-of-fold score


def _roc_of_family(fam, y_test, path: Path, title: str) -> None:
    from sonomics.evaluation.plots import roc_figure

    if not fam.test_proba:
        return
    curves = {name: (y_test, p) for name, p in fam.test_proba.items()}
    roc_figure(curves, title=title, path=path)


def _cv_note(fam) -> str:
    cv = ", ".join(f"{k} {v:.3f}" for k, v in fam.cv_auc.items())
    return (f"Cut-offs chosen on the training set (Youden) and applied unchanged to the test "
            f"set. Training 5-fold CV AUC: {cv}. Best by training CV AUC: **{fam.best}**.")


def _finite_columns(train: pd.DataFrame) -> list[str]:
    """Columns with finite values on every training case (others cannot be z-scored)."""
    values = train.to_numpy(dtype=float)
    return [c for c, ok in zip(train.columns, np.isfinite(values).all(axis=0), strict=True)
            if ok]


# ----------------------------------------------------------------- clinical
def clinical_design(table: pd.DataFrame, train_index: pd.Index, continuous: list[str],
                    categorical: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Impute missing clinical values with training statistics (median / 'missing' level).

    Returns the imputed table and the imputation (stored for prediction).
    """
    train = table.loc[train_index]
    impute: dict[str, Any] = {}
    out = table.copy()
    for col in continuous:
        med = float(np.nanmedian(train[col].to_numpy(dtype=float)))
        impute[col] = med
        out[col] = out[col].astype(float).fillna(med)
    for col in categorical:
        impute[col] = "missing"
        out[col] = out[col].astype(object).where(out[col].notna(), "missing").astype(str)
    return out, impute


def stage_clinical(study: Study) -> None:
    from sonomics.models.clinical import clinical_model

    cfg = study.config
    cont, cat = cfg.data.continuous, cfg.data.categorical
    if not (cont or cat):
        _absent(study, "clinical", "the cohort has no clinical variables (data.continuous and "
                                   "data.categorical are empty): no clinical model and no "
                                   "nomogram")
        return
    table, split = split_frames(study)
    is_train, is_test = (split == "train").to_numpy(), (split == "test").to_numpy()
    design, impute = clinical_design(table, table.index[is_train], cont, cat)
    reference = {c: str(design.loc[is_train, c].mode().iloc[0]) for c in cat}
    y = table["label"].astype(int).to_numpy()
    try:
        analysis, fam = clinical_model(design[is_train], y[is_train], design[is_test],
                                       y[is_test], continuous=cont, categorical=cat,
                                       cfg=cfg.models, reference=reference,
                                       random_state=cfg.seed)
    except ValueError as exc:
        _absent(study, "clinical", f"clinical model not built: {exc}")
        return
    _clear_absent(study, "clinical")
    write_table(analysis.table, study.tables_dir, "supp_table1_clinical_lr",
                title="Supplementary Table 1. Univariable and multivariable logistic regression "
                      "(training set)",
                note=f"Independent factors (multivariable p < {cfg.models.clinical_p}): "
                     f"{', '.join(analysis.selected_variables)}. Reference levels: "
                     f"{reference}. {study.note() or ''}")
    write_table(fam.table, study.tables_dir, "table3_clinical_models",
                title="Table 3. Performance of the clinical models", note=_cv_note(fam))
    _roc_of_family(fam, y[is_test], study.figures_dir / "roc_clinical.png",
                   "Clinical models, testing set")
    save_predictions(study, "clinical", _family_predictions(
        fam, table.index[is_train], table.index[is_test], y[is_train], y[is_test]))
    save_models(study, "clinical", {"encoder": analysis.encoder, "model": fam.models[fam.best]},
                {"best": fam.best, "selected_variables": analysis.selected_variables,
                 "selected_columns": analysis.selected_columns, "impute": impute,
                 "reference": reference, "continuous": cont, "categorical": cat,
                 "cv_auc": fam.cv_auc})


# ----------------------------------------------------------------- radiomics
def stage_radiomics(study: Study) -> None:
    """Extract reader-1 features for every case; second ratings (ICC) on training cases only."""
    from sonomics.radiomics.cohort import build_tasks, icc_from_result, write_outputs
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.params import load_params

    cfg = study.config
    table, split = split_frames(study)
    train = table[split == "train"]
    others = table[split != "train"].assign(mask_reader2=None)
    tasks, kind = build_tasks(train, cfg)
    no_icc = cfg.model_copy(deep=True)
    no_icc.radiomics.perturbation = False
    other_tasks, _ = build_tasks(others, no_icc)
    result = run_extraction(tasks + other_tasks, load_params(cfg.radiomics),
                            cache_dir=study.out / "cache" / "radiomics",
                            workers=cfg.radiomics.workers, scheduler=cfg.radiomics.scheduler,
                            sigma_in_pixels=cfg.radiomics.sigma_in_pixels,
                            progress=study.console.is_terminal)
    icc = icc_from_result(result, kind, cfg)
    write_outputs(result, icc, study.out)
    n_feat = result.features.shape[1]
    kept = int(icc["keep"].sum()) if len(icc) else n_feat
    study.console.print(f"  {n_feat} features per image; {kind} ICC on training cases: "
                        f"{kept} kept; {len(result.failures)} failed task(s); "
                        f"{result.n_cached} from cache, {result.n_computed} computed")


def _icc_table(study: Study) -> dict[str, float] | None:
    """Feature -> ICC (a plain dict, so the fitted selector can be stored with skops)."""
    path = study.tables_dir / "radiomics_icc.csv"
    if not path.exists():
        return None
    icc = pd.read_csv(path)
    if not len(icc):
        return None
    return {str(f): float(v) for f, v in zip(icc["feature"], icc["icc"], strict=True)}


def feature_sets(study: Study, frame: pd.DataFrame
                  ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Training and test rows of a feature table aligned with labels and split."""
    table, split = split_frames(study)
    ids = frame.index.intersection(table.index)
    frame = frame.loc[ids]
    y = table.loc[ids, "label"].astype(int).to_numpy()
    s = split.loc[ids].to_numpy()
    cols = _finite_columns(frame[s == "train"])
    frame = frame[cols]
    test = frame[s == "test"]
    finite_test = np.isfinite(test.to_numpy(dtype=float)).all(axis=1)
    if not finite_test.all():
        study.console.print(f"  {int((~finite_test).sum())} test case(s) with non-finite "
                            "feature values excluded")
    keep = (s == "train") | ((s == "test") & np.isin(frame.index, test.index[finite_test]))
    frame, y, s = frame[keep], y[keep], s[keep]
    return frame[s == "train"], frame[s == "test"], y[s == "train"], y[s == "test"]


def _lasso_figures(fam, study: Study, prefix: str) -> list[str]:
    from sonomics.evaluation.plots import lasso_coef_figure, lasso_cv_figure, lasso_path_figure

    model = fam.models[fam.best]
    select = model.named_steps.get("select")
    if select is None:
        return []
    lasso = select.named_steps["lasso"]
    lasso_path_figure(lasso, study.figures_dir / f"{prefix}.png")
    lasso_cv_figure(lasso, study.figures_dir / f"{prefix}_cv.png")
    lasso_coef_figure(lasso, study.figures_dir / f"{prefix}_coefficients.png")
    return [str(c) for c in select.get_feature_names_out()]


def _feature_family_stage(study: Study, name: str, frame: pd.DataFrame, table_name: str,
                          title: str, lasso_prefix: str, roc_name: str) -> None:
    from sonomics.models.family import feature_family

    cfg = study.config
    X_tr, X_te, y_tr, y_te = feature_sets(study, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        fam = feature_family(X_tr, y_tr, X_te, y_te, family=MODEL_LABELS[name],
                             selection_cfg=cfg.selection, models_cfg=cfg.models,
                             icc_table=_icc_table(study),
                             icc_threshold=cfg.radiomics.icc_threshold, random_state=cfg.seed)
    selected = _lasso_figures(fam, study, lasso_prefix)
    write_table(fam.table, study.tables_dir, table_name, title=title,
                note=_cv_note(fam) + f" {len(selected)} features selected from "
                     f"{X_tr.shape[1]}: {', '.join(selected)}.")
    _roc_of_family(fam, y_te, study.figures_dir / f"{roc_name}.png", f"{title}, testing set")
    save_predictions(study, name, _family_predictions(fam, X_tr.index, X_te.index, y_tr, y_te))
    save_models(study, name, {"model": fam.models[fam.best]},
                {"best": fam.best, "features_in": list(X_tr.columns), "selected": selected,
                 "cv_auc": fam.cv_auc})


def stage_radiomics_model(study: Study) -> None:
    features = pd.read_parquet(study.out / "radiomics" / "features.parquet")
    if features.empty:
        raise StageSkipped("no case yielded radiomics features")
    features.index = features.index.astype(str)
    _feature_family_stage(study, "radiomics", features, "table4_radiomics_models",
                          "Table 4. Performance of the radiomics models", "lasso_radiomics",
                          "roc_radiomics")


# ----------------------------------------------------------------- deep learning
def stage_deep(study: Study) -> None:
    from sonomics.deep.backbones import get_spec
    from sonomics.deep.pipeline import run_deep

    cfg = study.config
    table, split = split_frames(study)
    cases = table[["image", "mask", "label", "patient_id"]].assign(split=split)
    cases["label"] = cases["label"].astype(int)
    result = run_deep(cases, cfg, study.out, progress=study.console.is_terminal)
    chosen = result.chosen
    scores = result.scores
    preds = pd.DataFrame({"split": scores["split"], "label": scores["label"],
                          "prob": scores[chosen], "oof": np.nan}, index=scores.index)
    save_predictions(study, "deep", preds)
    best = result.trained[chosen]
    save_models(study, "deep", {"pca": result.pca},
                {"backbone": chosen, "label": get_spec(chosen).label,
                 "weights_source": result.weights_source, "random_init": result.random_init,
                 "validation_auc": result.val_auc, "input_size": cfg.deep.input_size,
                 "crop_margin": cfg.deep.crop_margin, "normaliser": _normaliser_meta(best)})
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in best.model.state_dict().items()}
    with atomic_path(study.out / "models" / "deep.safetensors") as tmp:
        save_file(state, str(tmp))


def _normaliser_meta(trained) -> dict[str, Any]:
    norm = trained.normaliser
    return {k: (float(v) if isinstance(v, (int, float, np.floating)) else v)
            for k, v in vars(norm).items()}


# ----------------------------------------------------------------- fusion
def stage_fusion(study: Study) -> None:
    hcr = pd.read_parquet(study.out / "radiomics" / "features.parquet")
    source = ("deep_oof_score.parquet" if study.config.fusion.deep_input == "oof_score"
              else "deep_features.parquet")
    deep = pd.read_parquet(study.out / source)
    hcr.index, deep.index = hcr.index.astype(str), deep.index.astype(str)
    fused = hcr.join(deep, how="inner")
    if fused.empty:
        raise StageSkipped("no case has both handcrafted and deep features")
    _feature_family_stage(study, "dlr", fused, "table6_dlr_models",
                          "Table 6. Performance of the DLR (fusion) models", "lasso_fusion",
                          "roc_dlr")


# ----------------------------------------------------------------- nomogram
NOMOGRAM_SCORE = "DLR score"


def nomogram_design(encoded: pd.DataFrame, columns: list[str], score: pd.Series) -> pd.DataFrame:
    data = encoded[columns].astype(float).copy()
    data[NOMOGRAM_SCORE] = score.reindex(data.index).to_numpy(dtype=float)
    return data


def stage_nomogram(study: Study) -> None:
    from sonomics.models.nomogram import fit_nomogram

    reason = absent_reason(study, "clinical")
    meta = load_meta(study, "clinical")
    if reason or meta is None:
        _absent(study, "nomogram", f"no nomogram: {reason or 'no clinical model'}")
        return
    dlr = load_predictions(study, "dlr")
    if dlr is None:
        raise StageSkipped("no DLR predictions")
    table, split = split_frames(study)
    objects = load_models(study, "clinical")
    design, _ = clinical_design(table, table.index[(split == "train").to_numpy()],
                                meta["continuous"], meta["categorical"])
    encoded = objects["encoder"].transform(design)
    columns = meta["selected_columns"]
    # training: the out-of-fold DLR score, so the nomogram is not fitted to an overfit score
    score = dlr["oof"].where(dlr["split"] == "train", dlr["prob"])
    data = nomogram_design(encoded, columns, score).dropna()
    s = split.reindex(data.index)
    y = table.loc[data.index, "label"].astype(int)
    train = data[s == "train"]
    nomo, fit = fit_nomogram(train, y[s == "train"], [*columns, NOMOGRAM_SCORE])
    _clear_absent(study, "nomogram")
    points = nomo.patient_points(data)
    lp = fit.predict(np.column_stack([np.ones(len(data)), data.to_numpy(dtype=float)]))
    preds = pd.DataFrame({"split": s, "label": y, "prob": lp, "oof": np.nan}, index=data.index)
    save_predictions(study, "nomogram", preds)
    nomo.figure(title="Nomogram (DLRN)", path=study.figures_dir / "nomogram.png")
    coef = pd.DataFrame({"term": ["(intercept)", *nomo.coef],
                         "coefficient": [nomo.intercept, *nomo.coef.values()],
                         "odds_ratio": np.exp([nomo.intercept, *nomo.coef.values()]),
                         "p": [float(fit.pvalues.iloc[i]) for i in range(len(nomo.coef) + 1)]})
    write_table(coef, study.tables_dir, "nomogram_coefficients",
                title="Nomogram (DLRN): logistic regression on the training set",
                note="The DLR score of training patients is out-of-fold (5-fold CV), so the "
                     "nomogram is not fitted to an overfit score.")
    write_table(nomo.points_table(), study.tables_dir, "nomogram_points",
                title="Nomogram points per predictor value")
    write_table(points.assign(split=s).reset_index(), study.tables_dir,
                "nomogram_patient_points", title="Per-patient nomogram points and risk")
    save_models(study, "nomogram", {},
                {"intercept": nomo.intercept, "coef": nomo.coef,
                 "axes": {k: list(map(float, v)) for k, v in nomo.axes.items()},
                 "columns": columns, "score": NOMOGRAM_SCORE})


# ----------------------------------------------------------------- evaluation
def stage_evaluation(study: Study) -> None:
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.calibration import hosmer_lemeshow
    from sonomics.evaluation.delong import delong_matrix
    from sonomics.evaluation.metrics import performance_rows
    from sonomics.evaluation.plots import (
        calibration_figure,
        decision_curve_figure,
        delong_heatmap,
        roc_figure,
    )

    preds = {MODEL_LABELS[m]: p for m in MODEL_LABELS
             if (p := load_predictions(study, m)) is not None}
    if not preds:
        raise StageSkipped("no model produced predictions")
    common = None
    for p in preds.values():
        common = p.index if common is None else common.intersection(p.index)
    frames = {k: v.loc[common] for k, v in preds.items()}
    any_frame = next(iter(frames.values()))
    split, label = any_frame["split"], any_frame["label"].astype(int)
    is_tr, is_te = (split == "train").to_numpy(), (split == "test").to_numpy()
    rows, hl_rows = [], []
    for name, f in frames.items():
        prob = f["prob"].to_numpy(dtype=float)
        rows.append(performance_rows(name, label[is_tr], prob[is_tr], label[is_te],
                                     prob[is_te]))
        for side, mask in (("training", is_tr), ("testing", is_te)):
            try:
                hl = hosmer_lemeshow(label[mask], prob[mask])
            except DegenerateInputError as exc:  # reported, never a NaN in the table
                hl_rows.append({"Model": name, "Set": side, "HL statistic": "not computable",
                                "df": "–", "P": "–", "groups": str(exc)})
                continue
            hl_rows.append({"Model": name, "Set": side, "HL statistic": f"{hl.statistic:.3f}",
                            "df": str(hl.df), "P": f"{hl.p:.3f}", "groups": str(hl.groups)})
    t7 = pd.concat(rows, ignore_index=True)
    order = t7["Model"].str.endswith("-testing").to_numpy()
    t7 = pd.concat([t7[~order], t7[order]], ignore_index=True)
    excluded = len(preds[next(iter(preds))]) - len(common)
    write_table(t7, study.tables_dir, "table7_all_models",
                title="Table 7. Performance of all models",
                note=f"Evaluated on the {len(common)} cases every model could score "
                     f"({int(is_tr.sum())} training, {int(is_te.sum())} testing"
                     + (f"; {excluded} excluded" if excluded else "") + "). Cut-offs chosen "
                     "on the training set. " + (study.note() or ""))
    write_table(pd.DataFrame(hl_rows), study.tables_dir, "hosmer_lemeshow",
                title="Hosmer-Lemeshow tests (g = 10; df = groups formed - 2)")
    for side, mask, tag in (("training", is_tr, "train"), ("testing", is_te, "test")):
        curves = {k: (label[mask], f["prob"].to_numpy(dtype=float)[mask])
                  for k, f in frames.items()}
        roc_figure(curves, title=f"ROC curves, {side} set",
                   path=study.figures_dir / f"roc_all_{tag}.png")
        decision_curve_figure(curves, title=f"Decision curves, {side} set",
                              path=study.figures_dir / f"dca_{tag}.png")
        calibration_figure(curves, title=f"Calibration, {side} set",
                           path=study.figures_dir / f"calibration_{tag}.png")
        if len(curves) > 1:
            pvals = delong_matrix(label[mask], {k: c[1] for k, c in curves.items()})
            write_table(pvals.reset_index().rename(columns={"index": "Model"}),
                        study.tables_dir, f"delong_{tag}",
                        title=f"DeLong test p-values, {side} set")
            delong_heatmap(pvals, title=f"DeLong test p-values, {side} set",
                           path=study.figures_dir / f"delong_{tag}.png")
    from sonomics.comparator_stage import comparator_tables

    comparator_tables(study, frames)
