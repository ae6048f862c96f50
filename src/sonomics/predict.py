"""Applying a finished study to new patients: the bundle and ``sonomics predict``.

``write_study_bundle`` packs what every model of a run needs to score a new
case (see :mod:`sonomics.bundle` for the file format and its safety). ``predict``
scores a manifest of new cases with a bundle: for each case the probability of
every model, the class at the TRAINING cut-off, the nomogram's points per
factor, total points and risk, and a Grad-CAM overlay. A problem with one case
(unreadable image, bad mask, unseen category, missing clinical value) becomes
an error line for that case; the other cases are scored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sonomics.bundle import Bundle, BundleError, load_bundle, save_bundle
from sonomics.io import atomic_write_text

if TYPE_CHECKING:
    from sonomics.study import Study

MODELS = ("clinical", "radiomics", "deep", "dlr", "nomogram")


# ----------------------------------------------------------------- writing
def training_cutoffs(study: Study) -> dict[str, float]:
    """Youden cut-off of each model on its TRAINING predictions (applied unchanged later)."""
    from sonomics.evaluation.metrics import youden_threshold
    from sonomics.stages import load_predictions

    cutoffs = {}
    for model in MODELS:
        p = load_predictions(study, model)
        if p is None:
            continue
        train = p[p["split"] == "train"]
        cutoffs[model] = float(youden_threshold(train["label"].astype(int), train["prob"]))
    return cutoffs


def write_study_bundle(study: Study) -> Path:
    from sonomics import __version__
    from sonomics.radiomics.params import load_params
    from sonomics.report.html import package_versions
    from sonomics.stages import load_meta, load_models

    cfg = study.config
    meta: dict[str, Any] = {
        "study": cfg.name, "sonomics_version": __version__, "versions": package_versions(),
        "config": cfg.model_dump(mode="json"),
        "radiomics_params": load_params(cfg.radiomics),
        "cutoffs": training_cutoffs(study), "synthetic": cfg.data.synthetic,
    }
    models: dict[str, Any] = {}
    for stage in ("clinical", "radiomics", "deep", "dlr", "nomogram"):
        stage_meta = load_meta(study, stage)
        if stage_meta is None:
            continue
        meta[stage] = stage_meta
        for key, obj in load_models(study, stage).items():
            models[f"{stage}.{key}"] = obj
    tensors = {}
    weights = study.out / "models" / "deep.safetensors"
    if weights.exists():
        from safetensors.torch import load_file

        tensors["cnn"] = load_file(str(weights))
    path = save_bundle(study.out / "bundle", meta, models, tensors)
    study.console.print(f"  bundle: {path} ({len(models)} fitted objects"
                        f"{', CNN weights' if tensors else ''})")
    return path


# ----------------------------------------------------------------- predicting
class CaseError(ValueError):
    """This case cannot be scored (the message names the case and the field)."""


def _cnn(bundle: Bundle):
    from sonomics.deep.backbones import build_backbone
    from sonomics.deep.preprocess import Normaliser

    deep = bundle.meta["deep"]
    net = build_backbone(deep["backbone"], pretrained=False)
    net.load_state_dict(bundle.tensors("cnn"))
    net.eval()
    norm_meta = deep["normaliser"]
    normaliser = Normaliser(norm_meta.get("mode", "per_image"))
    for key in ("mean_", "std_"):
        if key in norm_meta:
            setattr(normaliser, key, float(norm_meta[key]))
    return net, normaliser


def _clinical_frame(bundle: Bundle, rows: pd.DataFrame) -> pd.DataFrame:
    """Clinical values imputed and encoded as in training; unseen levels are case errors."""
    meta = bundle.meta["clinical"]
    frame = rows.copy()
    for col, value in meta["impute"].items():
        if col in meta["continuous"]:
            frame[col] = frame[col].astype(float).fillna(float(value))
        else:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), value).astype(str)
    return frame


def predict_cases(bundle: Bundle, table: pd.DataFrame, out_dir: Path,
                  gradcam: bool = True) -> pd.DataFrame:
    """Score every case of a cohort table with the bundle; one row per case."""
    from sonomics.data.validation import validate_case
    from sonomics.deep.dataset import read_crop
    from sonomics.deep.features import extract_deep_features
    from sonomics.deep.oof import OOF_SCORE
    from sonomics.deep.train import predict_proba
    from sonomics.models.nomogram import Nomogram
    from sonomics.radiomics.extract import ExtractionTask, extract_case

    meta, models = bundle.meta, bundle.models
    cfg = meta["config"]
    cutoffs = meta["cutoffs"]
    net, normaliser = _cnn(bundle) if "deep" in meta else (None, None)
    nomo = None
    if "nomogram" in meta:
        n = meta["nomogram"]
        nomo = Nomogram(n["intercept"], n["coef"], {k: np.asarray(v) for k, v in n["axes"].items()})
    rows = []
    for case_id, row in table.iterrows():
        out: dict[str, Any] = {"case_id": case_id, "error": ""}
        try:
            problems, _ = validate_case(str(case_id), row, cfg["data"]["min_roi_pixels"],
                                        cfg["data"]["mask_label"])
            errors = [p for p in problems if p.severity == "error"]
            if errors:
                raise CaseError(errors[0].line())
            spacing = None if pd.isna(row.get("spacing_row")) else (
                float(row["spacing_row"]), float(row["spacing_col"]))
            task = ExtractionTask(case_id=str(case_id), image=Path(row["image"]),
                                  mask=Path(row["mask"]), spacing=spacing,
                                  mask_label=cfg["data"]["mask_label"])
            hcr = pd.DataFrame([extract_case(task, meta["radiomics_params"],
                                             sigma_in_pixels=cfg["radiomics"]
                                             ["sigma_in_pixels"]).features], index=[case_id])
            if "radiomics" in meta:
                feats = hcr[meta["radiomics"]["features_in"]]
                out["radiomics_prob"] = float(
                    models["radiomics.model"].predict_proba(feats)[:, 1][0])
            if net is not None:
                deep = meta["deep"]
                crop = read_crop(row["image"], row["mask"], size=deep["input_size"],
                                 margin=deep["crop_margin"],
                                 mask_label=cfg["data"]["mask_label"])[None]
                out["deep_prob"] = float(predict_proba(net, crop, normaliser)[0])
                emb = extract_deep_features(net, crop, normaliser,
                                            feature_map=cfg["deep"]["feature_map"])
                pcs = models["deep.pca"].transform(emb)
                names = [f"deep_{deep['backbone']}_{c}"
                         for c in models["deep.pca"].get_feature_names_out()]
                fused = hcr.join(pd.DataFrame(pcs, index=[case_id], columns=names))
                fused[OOF_SCORE] = out["deep_prob"]  # fusion.deep_input = oof_score
                if "dlr" in meta:
                    out["dlr_prob"] = float(models["dlr.model"].predict_proba(
                        fused[meta["dlr"]["features_in"]])[:, 1][0])
                if gradcam:
                    out["gradcam"] = str(_gradcam_png(net, crop, normaliser, out_dir, case_id))
            if "clinical" in meta:
                cmeta = meta["clinical"]
                needed = [*cmeta["continuous"], *cmeta["categorical"]]
                missing = [c for c in needed if c not in row.index]
                if missing:
                    raise CaseError(f"case {case_id}, field '{missing[0]}': clinical column "
                                    "missing from the manifest")
                clin = _clinical_frame(bundle, table.loc[[case_id], needed])
                try:
                    enc = models["clinical.encoder"].transform(clin)
                except ValueError as exc:
                    raise CaseError(f"case {case_id}: {exc}") from None
                enc = enc[cmeta["selected_columns"]]
                out["clinical_prob"] = float(models["clinical.model"].predict_proba(enc)[:, 1][0])
                if nomo is not None and "dlr_prob" in out:
                    data = enc.astype(float).assign(**{meta["nomogram"]["score"]:
                                                       out["dlr_prob"]})
                    points = nomo.patient_points(data[list(nomo.axes)])
                    for col in points.columns:
                        key = "nomogram_prob" if col == "risk" else f"points_{col}"
                        out[key] = float(points[col].iloc[0])
            for model in MODELS:
                if f"{model}_prob" in out and model in cutoffs:
                    out[f"{model}_class"] = ("malignant" if out[f"{model}_prob"]
                                             >= cutoffs[model] else "benign")
        except (CaseError, ValueError, OSError) as exc:
            out["error"] = str(exc).splitlines()[0]
        rows.append(out)
    return pd.DataFrame(rows).set_index("case_id")


def _gradcam_png(net, crop: np.ndarray, normaliser, out_dir: Path, case_id: str) -> Path:
    from sonomics.deep.gradcam import gradcam_heatmaps, plot_gradcam_figure

    heat = gradcam_heatmaps(net, crop, normaliser)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(case_id))
    return plot_gradcam_figure(crop, heat, [str(case_id)], out_dir / "gradcam" / f"{safe}.png")


def predict(bundle_path: str | Path, manifest: str | Path, out_dir: str | Path,
            gradcam: bool = True) -> tuple[Path, pd.DataFrame]:
    """Score a manifest's cases; write ``predictions.csv`` (and Grad-CAM PNGs) to ``out_dir``."""
    from sonomics.config import StudyConfig
    from sonomics.data.manifest import load_cohort

    bundle = load_bundle(bundle_path)
    cfg = StudyConfig.from_dict(bundle.meta["config"])
    cohort = load_cohort(cfg, manifest, require_label=False)
    fatal = [p for p in cohort.errors if p.case_id == "(cohort)"
             and p.field != cfg.data.label]
    if fatal:
        raise BundleError("; ".join(p.line() for p in fatal))
    out_dir = Path(out_dir)
    result = predict_cases(bundle, cohort.table, out_dir, gradcam=gradcam)
    table_errors = {p.case_id: p.line() for p in cohort.errors if p.case_id != "(cohort)"
                    and p.field != cfg.data.label}
    for cid, line in table_errors.items():
        if cid in result.index and not result.loc[cid, "error"]:
            result.loc[cid, "error"] = line
    path = atomic_write_text(out_dir / "predictions.csv", result.to_csv())
    atomic_write_text(out_dir / "bundle_info.json", json.dumps(bundle.info, indent=2))
    return path, result
