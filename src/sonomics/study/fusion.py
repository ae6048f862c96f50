"""Methods 2.7 / Table 6: deep learning radiomics (DLR) — handcrafted and deep features
fused, then the same selection chain and classifiers as the radiomics model.

With ``fusion.deep_input: oof_score`` the deep part is the CNN's out-of-fold malignancy
score instead of the PCA features (see :mod:`sonomics.deep.oof`).
"""

from __future__ import annotations

from sonomics.models.fusion import fuse
from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import Model
from sonomics.study.context import StudyContext
from sonomics.study.families import feature_family_stage
from sonomics.study.outline import Section, figure, table
from sonomics.study.radiomics_model import family_settings


def fusion(ctx: StudyContext) -> None:
    run = ctx.run
    deep_path = run.deep_oof_score if ctx.config.fusion.deep_input == "oof_score" \
        else run.deep_features
    hcr, deep = run.features(run.radiomics_features), run.features(deep_path)
    if hcr is None or deep is None:
        raise StageSkipped("no handcrafted or no deep features to fuse")
    fused = fuse(hcr, deep)
    if fused.empty:
        raise StageSkipped("no case has both handcrafted and deep features")
    feature_family_stage(ctx, Model.DLR, fused, "table6_dlr_models",
                         "Table 6. Performance of the DLR (fusion) models", "lasso_fusion",
                         "roc_dlr")


def _settings(ctx: StudyContext) -> object:
    cfg = ctx.config
    fusion = [] if cfg.fusion.deep_input == "features" else [cfg.fusion.model_dump(mode="json")]
    return [*family_settings(ctx), *fusion]


FUSION = Stage(
    "fusion", fusion, "Fusion: deep learning radiomics (Table 6)",
    needs=("radiomics", "deep"), settings=_settings,
    writes=("tables/selection_stability_fusion.*", "tables/site_effects_fusion.*",
            "figures/site_effects_fusion.png",
            "tables/table6_dlr_models.*", "figures/lasso_fusion*.png", "figures/roc_dlr.png",
            "predictions/dlr.csv", "models/dlr.*"),
    outline=Section("Deep learning radiomics (fusion)", (
        figure("lasso_fusion", "Figure 4A. LASSO coefficient paths, fused features"),
        figure("lasso_fusion_cv", "Figure 4B. LASSO cross-validation error"),
        figure("lasso_fusion_coefficients", "Figure 5. Selected fused features and their "
                                            "coefficients"),
        table("table6_dlr_models", "Table 6. Performance of the DLR models"),
        table("selection_stability_fusion",
              "Selection frequency of the features over patient subsamples"),
        table("site_effects_fusion", "Site effects before and after harmonisation"),
        figure("site_effects_fusion", "Site effects of the fused features before and after "
                                      "ComBat"),
        figure("roc_dlr", "ROC curves of the DLR models, testing set"),
    )))
