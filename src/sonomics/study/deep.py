"""Methods 2.5-2.6 / Table 5: CNN transfer learning and deep features.

Each configured backbone is fine-tuned on the training cases (a patient-grouped
validation part chooses the epoch); the backbone with the best VALIDATION AUC gives the
deep-learning model's probabilities and the deep features (PCA fitted on training cases).
The stored deep model is the CNN's weights (safetensors) plus its fitted normaliser and
PCA (skops), the objects ``sonomics predict`` applies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sonomics.pipeline import Stage
from sonomics.rundir import Model
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, figure, table


def deep_cases(ctx: StudyContext) -> pd.DataFrame:
    """The case table the CNNs train on: the study's usable cases and its split."""
    cases, split = ctx.cases()
    frame = cases[["image", "mask", "label", "patient_id"]].assign(split=split)
    frame["label"] = frame["label"].astype(int)
    return frame


def deep(ctx: StudyContext, *, progress: bool | None = None) -> None:
    from safetensors.torch import save_file

    from sonomics.deep.backbones import get_spec
    from sonomics.deep.pipeline import run_deep
    from sonomics.io import atomic_path

    cfg = ctx.config
    result = run_deep(deep_cases(ctx), cfg, ctx.run.root,
                      progress=ctx.console.is_terminal if progress is None else progress)
    chosen, scores = result.chosen, result.scores
    ctx.run.save_predictions(Model.DEEP, pd.DataFrame(
        {"split": scores["split"], "label": scores["label"], "prob": scores[chosen],
         "oof": np.nan}, index=scores.index))
    best = result.trained[chosen]
    ctx.run.save_fitted(Model.DEEP, {"pca": result.pca, "normaliser": best.normaliser},
                        {"backbone": chosen, "label": get_spec(chosen).label,
                         "weights_source": result.weights_source,
                         "random_init": result.random_init,
                         "validation_auc": result.val_auc, "input_size": cfg.deep.input_size,
                         "crop_margin": cfg.deep.crop_margin,
                         "feature_map": cfg.deep.feature_map,
                         "feature_prefix": f"deep_{chosen}"})
    state = {k: v.detach().cpu().contiguous() for k, v in best.model.state_dict().items()}
    with atomic_path(ctx.run.cnn_weights) as tmp:
        save_file(state, str(tmp))
    if result.random_init:
        ctx.console.print("  [bold yellow]warning:[/bold yellow] backbones trained from RANDOM "
                          "initialisation (no ImageNet weights found): not transfer learning")


def _settings(ctx: StudyContext) -> object:
    cfg = ctx.config
    fusion = [] if cfg.fusion.deep_input == "features" else [cfg.fusion.model_dump(mode="json")]
    return [cfg.deep.model_dump(mode="json", exclude={"device"}), cfg.seed, *fusion]


DEEP = Stage(
    "deep", deep, "CNN transfer learning + deep features (Table 5)", needs=("split",),
    settings=_settings, reads=StudyContext.image_files,
    writes=("deep/*", "tables/table5_deep.*", "tables/deep_scores.csv",
            "tables/deep_features.csv", "tables/deep_failures.*",
            "figures/training_curve_*.png", "figures/fig3_gradcam_*.png",
            "predictions/deep.csv", "models/deep.*"),
    outline=Section("Deep learning models", (
        table("table5_deep", "Table 5. Performance of the deep learning models"),
        figure("training_curve_*", "Supplementary Figure 5. Training curves"),
        figure("fig3_gradcam_*", "Figure 3. Grad-CAM of representative test cases "
                                 "(TP, TN, FP, FN)"),
    )))
