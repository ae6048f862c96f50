"""Applying a finished study to new patients: the bundle and ``sonomics predict``.

A bundle (written by the study's bundle stage; format and safety in
:mod:`sonomics.bundle`) holds the study's fitted objects. ``predict`` applies them —
the same objects, through the same functions the study scored its own cases with —
to a manifest of new cases: for each case the probability of
every model, the class at the TRAINING cut-off, the nomogram's points per
factor, total points and risk, and a Grad-CAM overlay. A problem with one case
(unreadable image, bad mask, unseen category, missing clinical value) becomes
an error line for that case; the other cases are scored. A clinical problem costs a
case its clinical and nomogram scores only: its image models are still reported. A
missing clinical value is an error unless the study's config sets
``predict.impute_missing`` (then it is imputed as in training and named in ``imputed``).
A case whose ``mask`` is empty is segmented by the bundle's segmenter when the study
trained one (``segment.enabled``; an optional ``roi_box`` column is its box prompt), and
``mask_source`` says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sonomics.bundle import Bundle, BundleError, load_bundle
from sonomics.data.manifest import case_spacing
from sonomics.io import atomic_write_text, case_file_stem, csv_text
from sonomics.models.family import positive_proba
from sonomics.models.fusion import fuse
from sonomics.models.nomogram import nomogram_design
from sonomics.rundir import PAPER_MODELS


class CaseError(ValueError):
    """This case cannot be scored (the message names the case and the field)."""


@dataclass
class BundleCNNs:
    """The bundle's CNNs: the one trained on every training case (deep features, and the
    score when the study trained no fold CNNs) and the fold CNNs whose mean probability is
    the deep-learning score (:mod:`sonomics.deep.oof`)."""

    full: Any
    normaliser: Any
    folds: list
    fold_normalisers: list

    def proba(self, crop: np.ndarray) -> float:
        from sonomics.deep.oof import fold_mean_proba
        from sonomics.deep.train import predict_proba

        if self.folds:
            return float(fold_mean_proba(self.folds, self.fold_normalisers, crop)[0])
        return float(predict_proba(self.full, crop, self.normaliser)[0])

    def heatmap(self, crop: np.ndarray, category: int) -> np.ndarray:
        """Grad-CAM of the scoring CNN(s) for ``category``: the fold CNNs' maps averaged."""
        from sonomics.deep.gradcam import gradcam_heatmaps

        pairs = list(zip(self.folds, self.fold_normalisers, strict=True)) or \
            [(self.full, self.normaliser)]
        return np.mean([gradcam_heatmaps(net, crop, norm, categories=np.array([category]))
                        for net, norm in pairs], axis=0)


def _cnns(bundle: Bundle) -> BundleCNNs:
    """The CNNs of the bundle (architecture by name, weights from safetensors)."""
    from sonomics.deep.backbones import build_backbone

    def load(tensors: str):
        net = build_backbone(bundle.meta["deep"]["backbone"], pretrained=False)
        net.load_state_dict(bundle.tensors(tensors))
        return net.eval()

    n_folds = int(bundle.meta["deep"].get("fold_cnns", 0))
    return BundleCNNs(load("cnn"), bundle.models["deep.normaliser"],
                      [load(f"cnn_fold-{k}") for k in range(1, n_folds + 1)],
                      list(bundle.models.get("deep.fold_normalisers", [])))


def load_segmenter(bundle: Bundle):
    """The bundle's automatic segmenter and its settings, or None when it has none."""
    if "segmenter" not in bundle.meta:
        return None
    from sonomics.segment.network import build_segmenter
    from sonomics.segment.train import SegmentSettings

    meta = bundle.meta["segmenter"]
    settings = SegmentSettings(**meta["settings"])
    net = build_segmenter(settings.architecture)
    net.load_state_dict(bundle.tensors("segmenter"))
    net.eval()
    return net, settings, float(meta["threshold"]), int(meta["min_pixels"])


def parse_box(text: object, case_id: str) -> tuple[float, ...] | None:
    """A ``roi_box`` cell ``x0,y0,x1,y1`` (pixels; x = column), None when empty."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return None
    try:
        box = tuple(float(v) for v in str(text).replace(";", ",").split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not all(np.isfinite(box)):
        raise CaseError(f"case {case_id}, field 'roi_box': {text!r} is not x0,y0,x1,y1")
    return box


def auto_mask(segmenter, case_id: str, image: np.ndarray, box: tuple[float, ...] | None,
              out_dir: Path) -> Path:
    """The segmenter's ROI of a case without a hand-drawn mask (its image already read),
    written as a mask file."""
    from PIL import Image

    from sonomics.segment.apply import segment_images

    net, settings, threshold, min_pixels = segmenter
    found = segment_images(net, settings, [image], [case_id],
                           [box], threshold=threshold, min_pixels=min_pixels)[0]
    if found.mask is None:
        raise CaseError(found.error)
    path = out_dir / "auto_masks" / f"{case_file_stem(case_id)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(found.mask.astype(np.uint8) * 255).save(path)
    return path


def _image_models(bundle: Bundle, cnns: BundleCNNs | None, case_id: str, row: pd.Series,
                  out: dict[str, Any], out_dir: Path, gradcam: bool) -> None:
    """Radiomics, deep-learning and DLR probabilities of one case (into ``out``)."""
    from sonomics.deep.dataset import read_crop
    from sonomics.deep.features import extract_deep_features, pca_feature_frame
    from sonomics.deep.oof import OOF_SCORE
    from sonomics.radiomics.extract import ExtractionTask, extract_case

    meta, models, cfg = bundle.meta, bundle.models, bundle.meta["config"]
    task = ExtractionTask(case_id=case_id, image=Path(row["image"]), mask=Path(row["mask"]),
                          spacing=case_spacing(row), mask_label=cfg["data"]["mask_label"])
    hcr = pd.DataFrame([extract_case(task, meta["radiomics_params"],
                                     sigma_in_pixels=cfg["radiomics"]["sigma_in_pixels"]
                                     ).features], index=[case_id])
    _tell_sites(models, case_id, row)
    if "radiomics.model" in models:
        out["radiomics_prob"] = float(positive_proba(models["radiomics.model"], hcr)[0])
    if cnns is None:
        return
    deep, normaliser = meta["deep"], models["deep.normaliser"]
    crop = read_crop(row["image"], row["mask"], size=deep["input_size"],
                     margin=deep["crop_margin"], mask_label=cfg["data"]["mask_label"],
                     mask_channel=deep.get("mask_channel", False))[None]
    out["deep_prob"] = cnns.proba(crop)
    embedding = extract_deep_features(cnns.full, crop, normaliser,
                                      feature_map=cfg["deep"]["feature_map"])
    pcs = pca_feature_frame(models["deep.pca"], embedding, [case_id], deep["feature_prefix"])
    score = pd.DataFrame({OOF_SCORE: [out["deep_prob"]]}, index=pcs.index)
    if "dlr.model" in models:
        fused = fuse(hcr, pcs, score)
        out["dlr_prob"] = float(positive_proba(models["dlr.model"], fused)[0])
    if gradcam:
        called = int(out["deep_prob"] >= meta["cutoffs"].get("deep", 0.5))
        out["gradcam"] = str(_gradcam_png(crop, cnns.heatmap(crop, called), out_dir, case_id))


def _tell_sites(models: dict[str, Any], case_id: str, row: pd.Series) -> None:
    """The case's site, for the models the study harmonised by site (ComBat)."""
    from sonomics.selection.harmonisation import add_sites, harmonisers

    harmonised = [m for m in models.values() if harmonisers(m)]
    if not harmonised:
        return
    site = row.get("site")
    if site is None or (isinstance(site, float) and np.isnan(site)):
        raise CaseError(f"case {case_id}, field 'site': empty; the study harmonised its "
                        "features by site, so its radiomics and DLR models need each case's "
                        "site")
    for model in harmonised:
        add_sites(model, {case_id: str(site)})


def _clinical_models(bundle: Bundle, case_id: str, rows: pd.DataFrame,
                     out: dict[str, Any]) -> None:
    """Clinical probability, and the nomogram's points and risk, of one case (into ``out``)."""
    meta, models = bundle.meta, bundle.models
    needed = [*meta["clinical"]["continuous"], *meta["clinical"]["categorical"]]
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise CaseError(f"case {case_id}, field '{missing[0]}': clinical column missing from "
                        "the manifest")
    blank = [c for c in needed if rows[c].isna().any()]
    if blank and not meta["config"].get("predict", {}).get("impute_missing", False):
        raise CaseError(f"case {case_id}, field '{blank[0]}': missing clinical value; the "
                        "clinical model and the nomogram need it (or set "
                        "predict.impute_missing: true in the study's config)")
    if blank:
        out["imputed"] = ", ".join(blank)  # filled with the training values (as in training)
    try:
        clinical = models["clinical.model"]
        factors = clinical[:-1].transform(rows)  # imputation, encoding, factor columns
        out["clinical_prob"] = float(positive_proba(clinical[-1], factors)[0])
    except ValueError as exc:
        raise CaseError(f"case {case_id}: {exc}") from None
    nomo = models.get("nomogram.nomogram")
    if nomo is not None and "dlr_prob" in out:
        design = nomogram_design(factors, pd.Series([out["dlr_prob"]], index=rows.index))
        points = nomo.patient_points(design)
        for col in points.columns:
            key = "nomogram_prob" if col == "risk" else f"points_{col}"
            out[key] = float(points[col].iloc[0])


def predict_cases(bundle: Bundle, table: pd.DataFrame, out_dir: Path,
                  gradcam: bool = True, boxes: dict[str, object] | None = None
                  ) -> pd.DataFrame:
    """Score every case of a cohort table with the bundle; one row per case.

    A case without a mask is segmented by the bundle's segmenter when it has one (inside
    its ``boxes`` entry, x0,y0,x1,y1, when given); ``mask_source`` says which ROI was used.
    """
    from sonomics.data.images import read_image
    from sonomics.data.validation import validate_case

    meta, cfg = bundle.meta, bundle.meta["config"]
    cnns = _cnns(bundle) if "deep" in meta else None
    segmenter = load_segmenter(bundle)
    rows = []
    for case_id, row in table.iterrows():
        out: dict[str, Any] = {"case_id": case_id, "error": "", "mask_source": "manual"}
        try:
            if row["mask"] is None and segmenter is not None:
                box = parse_box((boxes or {}).get(str(case_id)), str(case_id))
                row = row.copy()
                image = read_image(row["image"]).array
                row["mask"] = str(auto_mask(segmenter, str(case_id), image, box, out_dir))
                out["mask_source"] = "auto (box prompt)" if box else "auto"
            problems, _ = validate_case(str(case_id), row, cfg["data"]["min_roi_pixels"],
                                        cfg["data"]["mask_label"])
            errors = [p for p in problems if p.severity == "error"]
            if errors:
                raise CaseError(errors[0].line())
            _image_models(bundle, cnns, str(case_id), row, out, out_dir, gradcam)
            if "clinical.model" in bundle.models:
                try:
                    _clinical_models(bundle, str(case_id), table.loc[[case_id]], out)
                except CaseError as exc:  # the image models' scores of this case stand
                    out["error"] = str(exc)
            for model in PAPER_MODELS:
                prob, cutoff = out.get(f"{model}_prob"), meta["cutoffs"].get(str(model))
                if prob is not None and cutoff is not None:
                    out[f"{model}_class"] = "malignant" if prob >= cutoff else "benign"
        except (CaseError, ValueError, OSError) as exc:
            message = str(exc).splitlines()[0].removeprefix("error: ")
            out["error"] = message if f"case {case_id}" in message else \
                f"case {case_id}: {message}"
        rows.append(out)
    return pd.DataFrame(rows).set_index("case_id")


def _gradcam_png(crop: np.ndarray, heat: np.ndarray, out_dir: Path, case_id: str) -> Path:
    from sonomics.deep.gradcam import plot_gradcam_figure

    return plot_gradcam_figure(crop, heat, [str(case_id)],
                               out_dir / "gradcam" / f"{case_file_stem(case_id)}.png")


def predict(bundle_path: str | Path, manifest: str | Path, out_dir: str | Path,
            gradcam: bool = True, verify_key: bytes | None = None
            ) -> tuple[Path, pd.DataFrame]:
    """Score a manifest's cases; write ``predictions.csv`` (and Grad-CAM PNGs) to ``out_dir``.

    With ``verify_key`` the bundle must carry a matching signature (see
    :func:`sonomics.bundle.sign_bundle`).
    """
    bundle = load_bundle(bundle_path, verify_key=verify_key)
    out_dir = Path(out_dir)
    result = score_manifest(bundle, manifest, out_dir, gradcam=gradcam)
    path = atomic_write_text(out_dir / "predictions.csv", csv_text(result))
    atomic_write_text(out_dir / "bundle_info.json", json.dumps(bundle.info, indent=2))
    return path, result


def score_manifest(bundle: Bundle, manifest: str | Path, out_dir: str | Path,
                   gradcam: bool = True) -> pd.DataFrame:
    """Every case of a manifest scored with a loaded bundle, one row per case (the path
    ``sonomics predict`` and ``sonomics serve`` share); rows the manifest check refused
    carry their error."""
    from sonomics.config import StudyConfig
    from sonomics.data.manifest import load_cohort

    cfg = StudyConfig.from_dict(bundle.meta["config"])
    cohort = load_cohort(cfg, manifest, require_label=False)
    fatal = [p for p in cohort.errors if p.case_id == "(cohort)"
             and p.field != cfg.data.label]
    if fatal:
        raise BundleError("; ".join(p.line() for p in fatal))
    out_dir = Path(out_dir)
    table = cohort.table
    errors: dict[str, str] = {}
    for p in cohort.errors:  # a row the manifest check refused is not scored at all
        if p.case_id != "(cohort)" and p.field != cfg.data.label:
            errors.setdefault(p.case_id, p.line().removeprefix("error: "))
    refused = table.index.duplicated(keep=False) | table.index.isin(list(errors))
    scored = predict_cases(bundle, table[~refused], out_dir, gradcam=gradcam,
                           boxes=_box_column(manifest, cfg))
    result = pd.concat([scored, pd.DataFrame(
        {"error": [errors.get(c, f"case {c}: duplicate case id, not scored")
                   for c in table.index[refused]]}, index=table.index[refused])])
    result.index.name = "case_id"
    return result


def _box_column(manifest: str | Path, cfg) -> dict[str, object]:
    """case id -> the manifest's optional ``roi_box`` cell (the segmenter's box prompt)."""
    from sonomics.data.manifest import read_table

    raw = read_table(manifest)
    if "roi_box" not in raw.columns:
        return {}
    return dict(zip(raw[cfg.data.case_id].astype(str), raw["roi_box"], strict=True))
