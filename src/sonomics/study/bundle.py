"""The prediction bundle: every fitted object of the study, its training cut-offs and the
CNN weights, packed for ``sonomics predict`` (format and safety: :mod:`sonomics.bundle`)."""

from __future__ import annotations

from typing import Any

from sonomics.pipeline import Stage
from sonomics.rundir import PAPER_MODELS
from sonomics.study.context import StudyContext


def training_cutoffs(ctx: StudyContext) -> dict[str, float]:
    """Youden cut-off of each model on its TRAINING predictions — the out-of-fold ones
    where the model has them, as in Table 7 — applied unchanged to new patients."""
    from sonomics.evaluation.metrics import youden_threshold

    cutoffs = {}
    for model in PAPER_MODELS:
        p = ctx.run.predictions(model)
        if p is not None:
            train = p[p["split"] == "train"]
            oof = train.get("oof")
            score = oof if oof is not None and oof.notna().all() else train["prob"]
            cutoffs[str(model)] = float(youden_threshold(train["label"].astype(int), score))
    return cutoffs


def bundle(ctx: StudyContext) -> None:
    from sonomics._version import __version__
    from sonomics.bundle import save_bundle
    from sonomics.radiomics.params import load_params
    from sonomics.report.html import package_versions

    cfg, run = ctx.config, ctx.run
    meta: dict[str, Any] = {
        "study": cfg.name, "sonomics_version": __version__, "versions": package_versions(),
        "config": cfg.model_dump(mode="json"),
        "radiomics_params": load_params(cfg.radiomics),
        "cutoffs": training_cutoffs(ctx), "synthetic": cfg.data.synthetic,
    }
    models: dict[str, Any] = {}
    for model in PAPER_MODELS:
        model_meta = run.meta(model)
        if model_meta is None:
            continue
        meta[str(model)] = model_meta
        for key, obj in run.fitted(model).items():
            models[f"{model}.{key}"] = obj
    tensors = {}
    from safetensors.torch import load_file

    if run.cnn_weights.exists():
        tensors["cnn"] = load_file(str(run.cnn_weights))
    n_folds = int((meta.get("deep") or {}).get("fold_cnns", 0))
    for k in range(1, n_folds + 1):
        tensors[f"cnn_fold-{k}"] = load_file(str(run.cnn_fold_weights(k)))
    segmenter = run.root / "segmentation" / "segmenter"
    if (segmenter / "model.safetensors").exists():
        import json

        tensors["segmenter"] = load_file(str(segmenter / "model.safetensors"))
        seg_meta = json.loads((segmenter / "segmenter.json").read_text())
        meta["segmenter"] = {k: seg_meta[k] for k in ("settings", "threshold", "min_pixels",
                                                      "weights", "val_dice", "best_epoch")}
        meta["segmenter"]["training_cases"] = len(seg_meta["training_cases"])
    path = save_bundle(run.bundle, meta, models, tensors)
    ctx.console.print(f"  bundle: {path} ({len(models)} fitted objects"
                      f"{', CNN weights' if 'cnn' in tensors else ''}"
                      f"{f', {n_folds} fold CNNs' if n_folds else ''}"
                      f"{', segmenter' if 'segmenter' in tensors else ''})")


BUNDLE = Stage("bundle", bundle, "Prediction bundle",
               needs=("segment", "clinical", "radiomics", "radiomics_model", "deep", "fusion",
                      "nomogram"),
               settings=lambda ctx: ctx.config.predict.model_dump(mode="json"),
               writes=("bundle/*",))
