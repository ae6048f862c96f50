"""``sonomics segment``: learn a lesion segmenter from the study's TRAINING masks, write an
automatic mask for every case, and measure it against the readers on the TEST cases.

The split is the study's own (its validate and split stages run first, in the study's
run directory), so the segmenter never sees a test case and the manifests written here
keep each case on its side:

- ``manifest_auto.csv``: every case with its automatic mask and no second reader (a fully
  automatic study; its ICC filter perturbs the automatic ROIs);
- ``manifest_auto_test.csv``: training cases with their manual masks, test cases with
  automatic ones (a model built on manual ROIs, applied to automatic ones).

Both carry the study's split in their ``split`` column and ``mask_source`` per case; the
reader-1 mask stays in ``mask_manual``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from sonomics.config import StudyConfig
from sonomics.io import atomic_path, atomic_write_text, csv_text, save_figure
from sonomics.pipeline import Stage, StageSkipped
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, figure, table


@dataclass
class SegmentationRun:
    out: Path
    summary: pd.DataFrame
    cases: pd.DataFrame
    failures: list[str]
    feature_icc: pd.DataFrame  # features kept per class, automatic vs reader-1 ROI


def _read(table: pd.DataFrame, label: int | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from sonomics.data.images import read_image, read_mask

    images = [read_image(p).array for p in table["image"]]
    masks = [read_mask(p, label) for p in table["mask"]]
    return images, masks


def _agreement(a: np.ndarray | None, b: np.ndarray | None, spacing) -> dict[str, float]:
    from sonomics.segment.metrics import dice, hd95, iou

    if a is None or b is None or a.shape != b.shape:
        return {"dice": np.nan, "iou": np.nan, "hd95": np.nan}
    return {"dice": dice(a, b), "iou": iou(a, b), "hd95": hd95(a, b, spacing)}


def _summary(cases: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for pair in ("auto_vs_reader1", "auto_vs_reader2", "reader1_vs_reader2"):
        for metric in ("dice", "iou", "hd95"):
            v = cases[f"{pair}_{metric}"].dropna()
            if v.empty:
                continue
            q1, med, q3 = np.percentile(v, [25, 50, 75])
            rows.append({"comparison": pair.replace("_", " "), "metric": metric,
                         "n": len(v), "median": med, "q1": q1, "q3": q3, "mean": v.mean()})
    return pd.DataFrame(rows)


def _figure(cases: pd.DataFrame, images: dict, manual: dict, auto: dict, path: Path) -> Path:
    from matplotlib.figure import Figure

    scored = cases["auto_vs_reader1_dice"].dropna().sort_values()
    if scored.empty:
        return path
    picks = {"worst": scored.index[0], "median": scored.index[len(scored) // 2],
             "best": scored.index[-1]}
    fig = Figure(figsize=(10, 3.6))
    for k, (what, case) in enumerate(picks.items()):
        ax = fig.add_subplot(1, 3, k + 1)
        ax.imshow(images[case], cmap="gray")
        ax.contour(manual[case], levels=[0.5], colors="lime", linewidths=1)
        if auto.get(case) is not None:
            ax.contour(auto[case], levels=[0.5], colors="red", linewidths=1)
        ax.set_title(f"{what}: {case}, Dice {scored[case]:.3f}", fontsize=8)
        ax.axis("off")
    fig.suptitle("Automatic (red) vs reader-1 (green) ROI, test set", fontsize=9)
    return save_figure(fig, path)


def segment_cohort(cfg: StudyConfig, out: str | Path, *, console: Console | None = None,
                   progress: bool = True) -> SegmentationRun:
    """``sonomics segment``: the study's validate and split stages, then the segmenter
    trained (or resumed) on the training masks and every case segmented, under ``out``."""
    from sonomics.study import Study

    study = Study(cfg, console=console or Console(stderr=True))
    study.run(["split"])
    out = Path(out).resolve()
    return run_segmentation(study.context, out, out / "figures" / "segmentation_cases.png",
                            progress=progress)


def run_segmentation(ctx: StudyContext, out: Path, figure_path: Path, *,
                     checkpoint_dir: Path | None = None, progress: bool = True
                     ) -> SegmentationRun:
    """Train the segmenter on the TRAINING cases' reader-1 masks, segment every case, and
    compare with the readers on the TEST cases; everything written under ``out``."""
    from PIL import Image

    from sonomics.data.images import read_image, read_mask
    from sonomics.data.manifest import case_spacing
    from sonomics.io import case_file_stem
    from sonomics.segment.apply import segment_images
    from sonomics.segment.geometry import mask_box
    from sonomics.segment.train import SegmentSettings, train_segmenter

    cfg, console = ctx.config, ctx.console
    frame, split = ctx.cases()
    groups = ctx.groups()
    label = cfg.data.mask_label
    train = frame[(split == "train").to_numpy()]
    settings = SegmentSettings.from_config(cfg.segment, cfg.seed)
    console.print(f"  segmenter {settings.architecture}: {len(train)} training cases "
                  f"({'box prompt' if settings.box_prompt else 'whole image'}, "
                  f"{settings.input_size} px, up to {settings.epochs} epochs)")
    images, masks = _read(train, label)
    trained = train_segmenter(images, masks, groups.loc[train.index].to_numpy(), settings,
                              checkpoint_dir=checkpoint_dir or out / "cache" / "segmenter",
                              weights=cfg.segment.weights, progress=progress)
    del images, masks
    _save_segmenter(out, trained, list(train.index), cfg)

    min_pixels = cfg.segment.min_pixels or cfg.data.min_roi_pixels
    auto, failures, rows = {}, [], []
    shown_images, shown_manual = {}, {}
    for start in range(0, len(frame), 32):
        chunk = frame.iloc[start:start + 32]
        imgs = [read_image(p).array for p in chunk["image"]]
        manual = [read_mask(p, label) if isinstance(p, str) else None for p in chunk["mask"]]
        boxes = [mask_box(m) if settings.box_prompt and m is not None and m.any() else None
                 for m in manual]
        results = segment_images(trained.model, settings, imgs, list(chunk.index), boxes,
                                 threshold=cfg.segment.threshold, min_pixels=min_pixels)
        for (case, row), img, man, res in zip(chunk.iterrows(), imgs, manual, results,
                                              strict=True):
            if res.error:
                failures.append(res.error)
            else:
                path = out / "masks" / f"{case_file_stem(case)}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    Image.fromarray(res.mask.astype(np.uint8) * 255).save(tmp, format="PNG")
                auto[case] = str(path)
            if split.loc[case] != "test":
                continue
            spacing = case_spacing(row) or (1.0, 1.0)
            reader2 = read_mask(row["mask_reader2"], label) \
                if isinstance(row.get("mask_reader2"), str) else None
            record = {"case_id": case, "error": res.error}
            for pair, (a, b) in {"auto_vs_reader1": (res.mask, man),
                                 "auto_vs_reader2": (res.mask, reader2),
                                 "reader1_vs_reader2": (man, reader2)}.items():
                record |= {f"{pair}_{k}": v for k, v in _agreement(a, b, spacing).items()}
            rows.append(record)
            shown_images[case], shown_manual[case] = img, man
    cases = pd.DataFrame(rows).set_index("case_id") if rows else pd.DataFrame()
    summary = _summary(cases) if len(cases) else pd.DataFrame()
    _write_outputs(out, cfg, frame, split, auto, cases, summary, failures)
    feature_icc = pd.DataFrame()
    if cfg.segment.feature_icc and len(cases):
        from sonomics.study.auto_roi import auto_feature_icc, feature_icc_summary

        feature_icc = auto_feature_icc(ctx, auto, list(cases.index))
        if len(feature_icc):
            atomic_write_text(out / "tables" / "segmentation_feature_icc.csv",
                              csv_text(feature_icc, index=False))
            feature_icc = feature_icc_summary(feature_icc)
            atomic_write_text(out / "tables" / "segmentation_feature_icc_summary.csv",
                              csv_text(feature_icc, index=False))
    if len(cases):
        auto_masks = {c: read_mask(auto[c]) for c in cases.index if auto.get(c)}
        _figure(cases, shown_images, shown_manual, auto_masks, figure_path)
    return SegmentationRun(out, summary, cases, failures, feature_icc)


def _save_segmenter(out: Path, trained, train_ids: list[str], cfg: StudyConfig) -> None:
    from dataclasses import asdict

    from sonomics.torch_io import cpu_copy, write_weights

    folder = out / "segmenter"
    folder.mkdir(parents=True, exist_ok=True)
    write_weights(cpu_copy(trained.model.state_dict()), folder / "model.safetensors")
    meta = {"settings": asdict(trained.settings), "best_epoch": trained.best_epoch,
            "val_dice": trained.val_dice, "resumed_from_epoch": trained.resumed_from,
            "threshold": cfg.segment.threshold,
            "min_pixels": cfg.segment.min_pixels or cfg.data.min_roi_pixels,
            "weights": str(cfg.segment.weights or "random initialisation"),
            "training_cases": train_ids,
            "history": trained.history.to_dict(orient="records")}
    atomic_write_text(folder / "segmenter.json", json.dumps(meta, indent=1, default=str))


def _write_outputs(out: Path, cfg: StudyConfig, table: pd.DataFrame, split: pd.Series,
                   auto: dict, cases: pd.DataFrame, summary: pd.DataFrame,
                   failures: list[str]) -> None:
    from sonomics.data.manifest import read_table

    raw = read_table(cfg.data.manifest)
    raw[cfg.data.case_id] = raw[cfg.data.case_id].astype(str)
    raw = raw.set_index(cfg.data.case_id).loc[table.index]
    raw[cfg.data.image] = table["image"]
    raw["mask_manual"] = table["mask"]
    raw[cfg.data.split or "split"] = split.loc[table.index]
    if cfg.data.mask_reader2 and cfg.data.mask_reader2 in raw:
        raw[cfg.data.mask_reader2] = table["mask_reader2"]
    variants = {"manifest_auto.csv": lambda side: True,
                "manifest_auto_test.csv": lambda side: side == "test"}
    for name, use_auto in variants.items():
        frame = raw.copy()
        source = []
        for case in frame.index:
            if use_auto(split.loc[case]):
                frame.loc[case, cfg.data.mask] = auto.get(case, "")
                source.append("auto" if auto.get(case) else "none: " + "segmenter found no "
                              "lesion")
            else:
                frame.loc[case, cfg.data.mask] = table.loc[case, "mask"]
                source.append("manual")
        frame["mask_source"] = source
        if name == "manifest_auto.csv" and cfg.data.mask_reader2 in frame:
            # no reader at all: the study's ICC filter then perturbs the automatic ROIs
            # instead of comparing them with a second reader's hand-drawn ones
            frame[cfg.data.mask_reader2] = ""
        atomic_write_text(out / name, csv_text(frame.reset_index(names=cfg.data.case_id),
                                               index=False))
    tables = out / "tables"
    if len(cases):
        atomic_write_text(tables / "segmentation_test_cases.csv", csv_text(cases))
        atomic_write_text(tables / "segmentation_summary.csv", csv_text(summary, index=False))
    atomic_write_text(tables / "segmentation_failures.csv",
                      csv_text(pd.DataFrame({"error": failures}), index=False))


def segment(ctx: StudyContext) -> None:
    """The study's optional segmentation stage (``segment.enabled``): the segmenter goes
    into the bundle, so ``sonomics predict`` and ``serve`` can score a case without a
    hand-drawn mask; the study's own models keep the readers' masks."""
    if not ctx.config.segment.enabled:
        raise StageSkipped("segment.enabled is false: no automatic segmenter (cases need "
                           "hand-drawn masks in predict and serve)")
    # checkpoints outside the stage's declared outputs: a killed run resumes
    result = run_segmentation(ctx, ctx.run.root / "segmentation",
                              ctx.run.figure("segmentation_cases"),
                              checkpoint_dir=ctx.run.cache / "segmenter")
    if len(result.summary):
        ctx.run.write_table(
            result.summary, "segmentation_summary",
            title="Automatic segmentation against the readers (testing set)",
            note="Dice, IoU and HD95 (mm where the pixel spacing is known; else pixels) of "
                 "the segmenter's ROI against reader 1 and reader 2, beside the two readers' "
                 "own agreement. The segmenter learnt from the training cases' reader-1 "
                 f"masks only. {len(result.failures)} case(s) without an automatic ROI. "
                 f"{ctx.note() or ''}")
    if len(result.feature_icc):
        ctx.run.write_table(
            result.feature_icc, "segmentation_feature_icc",
            title="Radiomics features that survive automation (testing set)",
            note=f"{ctx.config.radiomics.icc_form} between the features of the reader-1 ROI "
                 "and of the automatic ROI of the same test images; kept = ICC >= "
                 f"{ctx.config.radiomics.icc_threshold}. {ctx.note() or ''}")


SEGMENT = Stage(
    "segment", segment, "Automatic segmentation (optional)", needs=("split",),
    # a disabled stage depends on nothing: editing a mask or a segment.* setting must not
    # "rerun" it (and with it the bundle)
    settings=lambda ctx: ctx.config.segment.model_dump(mode="json")
    if ctx.config.segment.enabled else {"enabled": False},
    reads=lambda ctx: StudyContext.image_files(ctx) if ctx.config.segment.enabled else [],
    writes=("segmentation/*", "tables/segmentation_summary.*",
            "tables/segmentation_feature_icc.*",
            "figures/segmentation_cases.png"),
    outline=Section("Automatic segmentation", (
        table("segmentation_summary", "Automatic segmentation against the readers"),
        table("segmentation_feature_icc", "Radiomics features that survive automation"),
        figure("segmentation_cases", "Automatic vs reader-1 ROI: worst, median and best "
                                     "test case"),
    )))
