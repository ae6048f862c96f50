"""Methods 2.5-2.6 / Table 5: CNN transfer learning and deep features.

Each configured backbone is fine-tuned on the training cases (a patient-grouped
validation part chooses the epoch); the backbone with the best VALIDATION AUC gives the
deep-learning model's probabilities and the deep features (PCA fitted on training cases).
The stored deep model is the CNN's weights (safetensors) plus its fitted normaliser and
PCA (skops), the objects ``sonomics predict`` applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sonomics.pipeline import Stage, recorded_seconds
from sonomics.rundir import Model
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, figure, table

if TYPE_CHECKING:
    from sonomics.deep.estimate import Deadline


def deep_cases(ctx: StudyContext) -> pd.DataFrame:
    """The case table the CNNs train on: the study's usable cases and its split.

    ``patient_id`` carries the inner-split group (patient joined with near-duplicate
    group), so the validation carve-out and the out-of-fold folds keep copies together.
    """
    cases, split = ctx.cases()
    frame = cases[["image", "mask", "label"]].assign(patient_id=ctx.groups(), split=split)
    frame["label"] = frame["label"].astype(int)
    return frame


def deep(ctx: StudyContext, *, progress: bool | None = None) -> None:
    from sonomics.deep.backbones import get_spec
    from sonomics.deep.oof import OOF_SCORE
    from sonomics.deep.pipeline import run_deep
    from sonomics.torch_io import cpu_copy, write_weights

    cfg = ctx.config
    cases = deep_cases(ctx)
    deadline = study_deadline(ctx)
    _announce_cost(ctx, int((cases["split"] == "train").sum()), len(cases), deadline)
    result = run_deep(cases, cfg, ctx.run.root,
                      progress=ctx.console.is_terminal if progress is None else progress,
                      deadline=deadline)
    chosen, scores, folds = result.chosen, result.scores, result.folds
    # with fold CNNs, the deep-learning model is their mean (see sonomics.deep.oof)
    prob = scores[chosen] if folds is None else pd.Series(folds.fold_mean, index=scores.index)
    oof = pd.Series(np.nan, index=scores.index)
    if folds is not None:
        train = scores.index[scores["split"] == "train"]
        oof[train] = folds.frame[OOF_SCORE].reindex(train)
    ctx.run.save_predictions(Model.DEEP, pd.DataFrame(
        {"split": scores["split"], "label": scores["label"], "prob": prob, "oof": oof},
        index=scores.index))
    best = result.trained[chosen]
    fitted = {"pca": result.pca, "normaliser": best.normaliser}
    if folds is not None:
        fitted["fold_normalisers"] = folds.normalisers
    ctx.run.save_fitted(Model.DEEP, fitted,
                        {"backbone": chosen, "label": get_spec(chosen).label,
                         "weights_source": result.weights_source,
                         "random_init": result.random_init,
                         "validation_auc": result.val_auc, "input_size": cfg.deep.input_size,
                         "crop_margin": result.crop_margin,
                         "mask_channel": cfg.deep.mask_channel,
                         "feature_map": cfg.deep.feature_map,
                         "feature_prefix": f"deep_{chosen}",
                         "fold_cnns": 0 if folds is None else len(folds.states)})
    write_weights(cpu_copy(best.model.state_dict()), ctx.run.cnn_weights)
    for k, state in enumerate(folds.states if folds is not None else [], 1):
        write_weights(state, ctx.run.cnn_fold_weights(k))


#: the stages after fusion (nomogram, comparators, evaluation, checklists, report, bundle)
#: took 4-6 s together on the demo cohort; set aside generously
AFTER_FUSION_SECONDS = 15.0


def study_deadline(ctx: StudyContext) -> Deadline | None:
    """``deep.finish_within_min`` as the CNN stage sees it. Spent: the recorded seconds of
    the stages before it. After: the fusion stage refits the radiomics model's selection
    and classifier search on the fused features, so it is estimated by the radiomics-model
    stage's recorded seconds, plus :data:`AFTER_FUSION_SECONDS` for the rest."""
    from sonomics.deep.estimate import Deadline

    minutes = ctx.config.deep.finish_within_min
    if minutes is None:
        return None
    order = list(ctx.stage_order)
    before = order[:order.index(DEEP.name)] if DEEP.name in order else []
    spent = sum(recorded_seconds(ctx.run.root, name) or 0.0 for name in before)
    after = (recorded_seconds(ctx.run.root, "radiomics_model") or 0.0) + AFTER_FUSION_SECONDS
    return Deadline(minutes * 60, spent, after)


def _announce_cost(ctx: StudyContext, n_train: int, n_cases: int,
                   deadline: Deadline | None) -> None:
    """Print the stage's estimated time before it starts; on a CPU-only machine with the
    paper's profile, say so and suggest the quick one (the profile is not changed)."""
    import torch

    from sonomics.deep.estimate import stage_estimate
    from sonomics.deep.pipeline import extra_cnns, time_budget

    deep = ctx.config.deep
    if deep.time_budget_min is not None:
        budget = time_budget(ctx.config, n_train, ctx.run.cache / "deep", deadline, n_cases)
        if "deadline" in budget:
            cut = budget["deadline"]
            ctx.console.print(f"  study deadline {cut['total_min']:g} min: stages before "
                              f"took {cut['spent_seconds']:.0f} s; {cut['after_seconds']:.0f}"
                              f" s set aside for those after and {cut['own_seconds']:.0f} s "
                              f"for this stage's scoring: {cut['left_min']:g} min left")
        minutes = budget.get("training_min", budget["budget_min"])  # older records: no cut
        ctx.console.print(f"  CNN time budget {minutes:g} min: "
                          f"{budget['epochs']} epoch(s) at most for {budget['cnns']} CNN(s) "
                          f"(measured {budget['seconds_per_epoch']:.0f} s per epoch of all; "
                          f"ceiling deep.epochs = {deep.epochs})")
        return
    seconds, how = stage_estimate(list(deep.backbones), n_train, deep.input_size,
                                  deep.batch_size, deep.epochs, extra_cnns(ctx.config),
                                  deep.device, val_fraction=deep.val_fraction)
    ctx.console.print(f"  estimated CNN training time: at most {_duration(seconds)} ({how})")
    if deep.profile == "paper" and not torch.cuda.is_available():
        ctx.console.print("  [yellow]the paper profile on a CPU-only machine:[/yellow] "
                          "consider `--profile quick` (the CPU recipe: one ResNet18 at 128 px "
                          "within a time budget)")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
            "predictions/deep.csv", "models/deep.*", "models/deep_fold-*"),
    outline=Section("Deep learning models", (
        table("table5_deep", "Table 5. Performance of the deep learning models"),
        figure("training_curve_*", "Supplementary Figure 5. Training curves"),
        figure("fig3_gradcam_*", "Figure 3. Grad-CAM of representative test cases "
                                 "(TP, TN, FP, FN)"),
    )))
