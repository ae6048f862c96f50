"""The deep-learning stage end to end: train each backbone, Table 5, deep features, Figure 3.

Input is a plain table (one row per case, index ``case_id``; columns ``image``, ``mask``,
``label`` 0/1, ``patient_id``, ``split`` in train/test/external), so the stage runs on any
cohort without the manifest machinery. Steps:

1. read every case once and crop it to its ROI (cached under ``OUT/cache/deep``);
2. for each backbone of ``cfg.deep.backbones``: fine-tune on the training cases (a
   validation part carved from them chooses the best epoch), predict every case, and
   write the paper's Table 5 rows (training, testing, and external when the cohort has an
   external split; the cut-off chosen on training);
3. choose the backbone with the best VALIDATION AUC (never the test AUC);
4. deep features of the chosen backbone, PCA fitted on training cases only (and, with
   ``fusion.deep_input: oof_score``, its out-of-fold score: :mod:`sonomics.deep.oof`);
5. training curves and the Grad-CAM figure (Figure 3) of representative test cases.

Outputs in the run directory (paths: :class:`sonomics.rundir.RunDir`): Table 5
(``tables/table5_deep``), ``tables/deep_scores.csv``, ``tables/deep_failures.csv`` (when a
case failed), the deep features (Parquet, and a CSV twin in ``tables/``), the out-of-fold
score when asked for, ``figures/training_curve_<backbone>.png``,
``figures/fig3_gradcam_<backbone>.png`` and the deep summary (chosen backbone, validation
AUCs, weight sources, ``random_init`` flag, timings).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sonomics.config import StudyConfig
from sonomics.deep.backbones import get_spec
from sonomics.deep.dataset import load_crops
from sonomics.deep.estimate import Deadline, budget_note, resolve_budget
from sonomics.deep.features import CappedPCA, deep_feature_table, extract_deep_features
from sonomics.deep.figures import plot_training_curve
from sonomics.deep.gradcam import gradcam_figure
from sonomics.deep.isolated import train_isolated
from sonomics.deep.margin import choose_crop_margin, margin_note
from sonomics.deep.oof import FoldCNNs, out_of_fold_scores
from sonomics.deep.runtime import release_memory
from sonomics.deep.train import (
    TrainResult,
    TrainSettings,
    predict_proba,
)
from sonomics.evaluation.metrics import performance_rows, youden_threshold
from sonomics.evaluation.tables import rows_by_set
from sonomics.io import csv_text
from sonomics.rundir import RunDir

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("image", "mask", "label", "patient_id", "split")

RANDOM_INIT_NOTE = ("WARNING: {names} started from RANDOM initialisation (no ImageNet weights "
                    "found); the paper fine-tunes ImageNet weights, so these results are not "
                    "transfer learning. Put the weights in torchvision's cache or name a file "
                    "in deep.weights.")


@dataclass
class DeepResult:
    """What the deep stage produced (also written under the output folder)."""

    table5: pd.DataFrame
    scores: pd.DataFrame
    features: pd.DataFrame
    chosen: str
    val_auc: dict[str, float]
    weights_source: dict[str, str]
    failures: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    trained: dict[str, TrainResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    pca: CappedPCA | None = None  # fitted on training cases; needed to score new cases
    folds: FoldCNNs | None = None  # the chosen backbone's fold CNNs (fusion.deep_input)
    crop_margin: float = 0.0  # deep.crop_margin, or the one chosen among the candidates

    @property
    def random_init(self) -> bool:
        """True when any backbone was trained without ImageNet weights (reports say so)."""
        return any(src == "random" for src in self.weights_source.values())


def check_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """Validate the case table; return it with string index and integer labels."""
    missing = [c for c in REQUIRED_COLUMNS if c not in cases.columns]
    if missing:
        raise ValueError(f"deep stage: case table lacks column(s) {missing}; needs "
                         f"{list(REQUIRED_COLUMNS)} indexed by case_id")
    frame = cases.copy()
    frame.index = frame.index.astype(str)
    bad = frame.index[~frame["label"].isin([0, 1])]
    if len(bad):
        raise ValueError(f"deep stage: case {bad[0]}, field 'label': must be 0 or 1 "
                         f"(got {frame.loc[bad[0], 'label']!r})")
    frame["label"] = frame["label"].astype(int)
    if not (frame["split"] == "train").any():
        raise ValueError("deep stage: field 'split': no case is in the training set")
    return frame


def run_deep(cases: pd.DataFrame, cfg: StudyConfig, out_dir: str | Path, *,
             progress: bool = True, pretrained: bool = True,
             max_steps: int | None = None, deadline: Deadline | None = None) -> DeepResult:
    """Train, evaluate and explain the configured backbones; write every output.

    Args:
        cases: one row per case (see the module docstring).
        cfg: the study config; ``cfg.deep`` drives everything here, ``cfg.seed`` seeds it.
        out_dir: the run directory.
        progress: show rich progress bars.
        pretrained: False trains from random weights on purpose (tests).
        max_steps: cap the steps per epoch (tests, smoke runs).
        deadline: what ``deep.finish_within_min`` leaves the CNNs (the study computes it
            from its stages' times); None: ``deep.time_budget_min`` alone.
    """
    run = RunDir(out_dir)
    deep = cfg.deep
    for name in deep.backbones:
        get_spec(name)  # fail before any work on an unknown backbone
    frame = check_cases(cases)
    settings = TrainSettings.from_config(deep, seed=cfg.seed)
    budget = None
    if deep.time_budget_min is not None:
        budget = time_budget(cfg, int((frame["split"] == "train").sum()), run.cache / "deep",
                             deadline=deadline, n_cases=len(frame))
        settings.epochs = budget["epochs"]
    t0 = time.perf_counter()
    margin_choice = None
    if deep.crop_margin_candidates:
        margin_choice = choose_crop_margin(
            frame, list(deep.crop_margin_candidates), backbone=deep.backbones[0],
            settings=settings, folds=cfg.fusion.oof_folds, input_size=deep.input_size,
            mask_label=cfg.data.mask_label, mask_channel=deep.mask_channel,
            cache_dir=run.cache / "deep", weights_path=deep.weights.get(deep.backbones[0]),
            pretrained=pretrained, progress=progress, max_steps=max_steps,
            isolate=deep.isolate)
        crop_set = margin_choice.crop_set
        timings = {"margin_choice_seconds": time.perf_counter() - t0}
    else:
        crop_set = load_crops(list(frame.index), list(frame["image"]), list(frame["mask"]),
                              size=deep.input_size, margin=deep.crop_margin,
                              mask_label=cfg.data.mask_label, mask_channel=deep.mask_channel,
                              cache_dir=run.cache / "deep")
        timings = {"crop_seconds": time.perf_counter() - t0}
    frame = frame.loc[crop_set.case_ids]
    crops = crop_set.crops
    labels = frame["label"].to_numpy()
    split = frame["split"].astype(str).to_numpy()
    is_train, is_test, is_ext = split == "train", split == "test", split == "external"
    crop_margin = deep.crop_margin if margin_choice is None else margin_choice.margin
    ssl_weights = self_supervised_weights(cfg, frame, crops, is_train, run, progress=progress,
                                          max_steps=max_steps)
    rows, trained, scores = [], {}, pd.DataFrame(
        {"split": split, "label": labels}, index=pd.Index(crop_set.case_ids, name="case_id"))
    figures: dict[str, Path] = {}
    for name in deep.backbones:
        tic = time.perf_counter()
        result = train_isolated(
            name, crops[is_train], labels[is_train], frame["patient_id"].astype(str)
            .to_numpy()[is_train], settings, checkpoint_dir=run.cache / "deep" / name,
            isolate=deep.isolate, weights_path=deep.weights.get(name, ssl_weights.get(name)),
            pretrained=pretrained or name in ssl_weights, progress=progress,
            max_steps=max_steps)
        timings[f"{name}_train_seconds"] = time.perf_counter() - tic
        timings[f"{name}_mean_epoch_seconds"] = (float(np.mean(result.epoch_seconds))
                                                 if result.epoch_seconds else float("nan"))
        trained[name] = result
        release_memory()  # what training freed, back to the system before the next CNN
        prob = predict_proba(result.model, crops, result.normaliser,
                             batch_size=max(32, deep.batch_size))
        scores[name] = prob
        label = get_spec(name).label
        if len(np.unique(labels[is_test])) == 2:
            rows.append(performance_rows(label, labels[is_train], prob[is_train],
                                         labels[is_test], prob[is_test], label_apparent=True))
        else:
            rows.append(performance_rows(label, labels[is_train], prob[is_train],
                                         label_apparent=True))
        if len(np.unique(labels[is_ext])) == 2:  # an external cohort, same training cut-off
            ext = performance_rows(label, labels[is_train], prob[is_train], labels[is_ext],
                                   prob[is_ext]).iloc[[1]]
            rows.append(ext.assign(Model=f"{label}-external"))
        figures[f"training_curve_{name}"] = plot_training_curve(
            result.history, run.figure(f"training_curve_{name}"),
            title=f"{label} ({result.weights_source})", best_epoch=result.best_epoch)

    # Table 5: training rows first, then testing (then external) rows, as in the paper
    table5 = rows_by_set(pd.concat(rows, ignore_index=True))
    val_auc = {n: r.val_auc for n, r in trained.items()}
    sources = {n: r.weights_source for n, r in trained.items()}
    chosen = choose_backbone(val_auc, list(deep.backbones))
    random_names = [get_spec(n).label for n, s in sources.items() if s == "random"]
    note = (f"Training row: *apparent* (the CNN scoring the images it was trained on; "
            f"optimistic). Cut-off chosen on it (Youden). Backbone used downstream: "
            f"{get_spec(chosen).label} (best validation AUC {val_auc[chosen]:.3f}; "
            f"validation carved from training).")
    reuse_folds = margin_choice is not None and margin_choice.backbone == chosen
    if cfg.fusion.deep_input == "oof_score" or reuse_folds:
        note += (" Table 7's Deep Learning model is not this CNN but the mean of its "
                 "patient-grouped fold CNNs: the score the fusion and `sonomics predict` "
                 "use, on the scale of the out-of-fold training scores its cut-off is "
                 "chosen on.")
    if margin_choice is not None:
        note += margin_note(margin_choice)
    if ssl_weights:
        seen = len(pd.read_csv(run.pretrain_images))
        note += (f" Self-supervised start (deep.pretrain): "
                 f"{', '.join(get_spec(n).label for n in ssl_weights)} pretrained with SimCLR "
                 f"for {deep.pretrain.epochs} epochs on {seen} unlabelled images (training "
                 f"cases only, and the user's folder if given: deep/pretrain_images.csv), "
                 f"then fine-tuned; not ImageNet transfer learning.")
    if budget is not None:
        note += budget_note(budget, settings.epochs)
    if random_names:
        note += "\n\n" + RANDOM_INIT_NOTE.format(names=", ".join(random_names))
    run.write_table(table5, "table5_deep", title="Table 5. Deep learning models", note=note)
    run.write_text(run.table_path("deep_scores"), csv_text(scores))
    if crop_set.failures:
        run.write_table(pd.DataFrame(crop_set.failures), "deep_failures")

    best = trained[chosen]
    tic = time.perf_counter()
    feats = extract_deep_features(best.model, crops, best.normaliser,
                                  feature_map=deep.feature_map, batch_size=deep.batch_size)
    features, pca = deep_feature_table(crop_set.case_ids, feats, is_train,
                                       n_components=deep.pca_components,
                                       prefix=f"deep_{chosen}", random_state=cfg.seed)
    timings["features_seconds"] = time.perf_counter() - tic
    del feats
    release_memory()
    run.write_features(features, run.deep_features)
    run.write_text(run.table_path("deep_features"), csv_text(features))
    folds = None
    if reuse_folds:
        folds = margin_choice.folds  # the winning margin's fold CNNs: already trained
    elif cfg.fusion.deep_input == "oof_score":
        folds = out_of_fold_scores(
            chosen, crops, labels, frame["patient_id"].astype(str).to_numpy(), is_train,
            settings, folds=cfg.fusion.oof_folds,
            checkpoint_root=run.cache / "deep" / f"{chosen}_oof",
            weights_path=deep.weights.get(chosen, ssl_weights.get(chosen)),
            pretrained=pretrained or chosen in ssl_weights, progress=progress,
            max_steps=max_steps, case_ids=crop_set.case_ids, isolate=deep.isolate)
        timings["oof_seconds"] = folds.seconds
    if folds is not None:
        run.write_features(folds.frame, run.deep_oof_score)

    gradcam_cases: dict[str, str] = {}
    if is_test.any() and len(np.unique(labels[is_test])) == 2:
        cutoff = youden_threshold(labels[is_train], scores[chosen].to_numpy()[is_train])
        test_idx = np.flatnonzero(is_test)
        path = run.figure(f"fig3_gradcam_{chosen}")
        gradcam_cases = gradcam_figure(
            best.model, crops[test_idx], best.normaliser, labels[test_idx],
            scores[chosen].to_numpy()[test_idx], cutoff, path,
            case_ids=[crop_set.case_ids[i] for i in test_idx],
            title=f"Grad-CAM, {get_spec(chosen).label}, test set"
                  + (" (RANDOM init)" if best.weights_source == "random" else ""))
        figures["gradcam"] = path

    summary = {
        "chosen_backbone": chosen, "validation_auc": val_auc, "weights_source": sources,
        "random_init": bool(random_names), "best_epoch": {n: r.best_epoch for n,
                                                          r in trained.items()},
        "resumed_from_epoch": {n: r.resumed_from for n, r in trained.items()},
        "device": str(best.device), "profile": deep.profile, "input_size": deep.input_size,
        "mask_channel": deep.mask_channel, "crop_margin": crop_margin,
        "crop_margin_oof_auc": None if margin_choice is None else margin_choice.oof_auc,
        "pca_components": pca.n_components_, "pca_capped": bool(pca.capped_),
        "feature_source": "feature_map" if deep.feature_map else "gap",
        "fusion_input": cfg.fusion.deep_input,
        "oof_folds": len(folds.states) if folds is not None else None,
        "gradcam_cases": gradcam_cases, "failures": crop_set.failures, "timings": timings,
        "epochs": settings.epochs, "time_budget": budget,
        "self_supervised_weights": {n: str(p) for n, p in ssl_weights.items()},
        "n_cases": {s: int((split == s).sum()) for s in ("train", "test", "external")},
    }
    run.write_text(run.deep_summary, json.dumps(summary, indent=2, default=str))
    return DeepResult(table5, scores, features, chosen, val_auc, sources, crop_set.failures,
                      figures, trained, timings, pca, folds, crop_margin)


def self_supervised_weights(cfg: StudyConfig, frame: pd.DataFrame, crops: np.ndarray,
                            is_train: np.ndarray, run: RunDir, *, progress: bool,
                            max_steps: int | None) -> dict[str, Path]:
    """``deep.pretrain``: SimCLR weights for each backbone without a ``deep.weights`` file,
    learnt from the TRAINING crops (and the user's folder, refused if it holds a test or
    external image); every image used is listed in ``deep/pretrain_images.csv``."""
    pre = cfg.deep.pretrain
    names = [n for n in cfg.deep.backbones if n not in cfg.deep.weights]
    if pre.epochs == 0 or not names:
        return {}
    from sonomics.deep.preprocess import image_plane
    from sonomics.deep.pretrain import PretrainSettings, pretrain_backbone, read_folder_images
    from sonomics.io import sha256_file

    images = image_plane(crops[is_train])
    listed = pd.DataFrame({"source": "training case", "image": frame.index[is_train]})
    if pre.folder is not None:
        extra, paths = read_folder_images(pre.folder, cfg.deep.input_size)
        held_out = {sha256_file(p): cid for cid, p in frame.loc[~is_train, "image"].items()}
        clash = [(p, held_out[d]) for p in paths if (d := sha256_file(p)) in held_out]
        if clash:
            raise ValueError(f"config key 'deep.pretrain.folder': {clash[0][0]} is the image "
                             f"of case {clash[0][1]}, which is not a training case "
                             f"({len(clash)} such file(s)); pretraining must not see it")
        images = np.concatenate([images, extra])
        listed = pd.concat([listed, pd.DataFrame({"source": "folder", "image": paths})])
    run.write_text(run.pretrain_images, csv_text(listed, index=False))
    settings = PretrainSettings(epochs=pre.epochs, batch_size=pre.batch_size,
                                learning_rate=pre.learning_rate, temperature=pre.temperature,
                                input_size=cfg.deep.input_size, seed=cfg.seed,
                                device=cfg.deep.device)
    weights = {}
    for name in names:
        weights[name] = run.pretrained_weights(name)
        history = pretrain_backbone(name, images, settings,
                                    checkpoint_dir=run.cache / "deep" / f"{name}_simclr",
                                    out_file=weights[name], progress=progress,
                                    max_steps=max_steps)
        curve = run.root / "deep" / f"pretrain_history_{name}.csv"
        run.write_text(curve, csv_text(history, index=False))
    return weights


def time_budget(cfg: StudyConfig, n_train: int, cache_dir: Path,
                deadline: Deadline | None = None, n_cases: int | None = None) -> dict:
    """``deep.time_budget_min`` (cut to what ``deadline`` leaves) as epochs, measured once
    and recorded under ``cache_dir``."""
    deep = cfg.deep
    return resolve_budget(deep.time_budget_min, list(deep.backbones), n_train,
                          deep.input_size, deep.batch_size, deep.epochs, extra_cnns(cfg),
                          deep.device, cache_dir, val_fraction=deep.val_fraction,
                          deadline=deadline, n_cases=n_cases)


def extra_cnns(cfg: StudyConfig) -> int:
    """CNNs trained beside one per backbone: the fold CNNs of the out-of-fold score, one set
    per crop margin compared when ``deep.crop_margin_candidates`` is set."""
    if cfg.deep.crop_margin_candidates:
        return cfg.fusion.oof_folds * len(cfg.deep.crop_margin_candidates)
    return cfg.fusion.oof_folds if cfg.fusion.deep_input == "oof_score" else 0


def choose_backbone(val_auc: dict[str, float], order: list[str]) -> str:
    """The backbone with the highest validation AUC (NaN last; ties: config order)."""
    def key(name: str) -> tuple[float, int]:
        auc = val_auc[name]
        return (-np.inf if np.isnan(auc) else auc, -order.index(name))
    return max(val_auc, key=key)
