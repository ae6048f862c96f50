"""Methods 2.5 / Table 4: the radiomics model — the selection chain (ICC, t-test,
correlation, greedy elimination, LASSO) and the classifiers on handcrafted features."""

from __future__ import annotations

from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import Model
from sonomics.study.context import StudyContext
from sonomics.study.families import feature_family_stage
from sonomics.study.outline import Section, figure, table


def radiomics_model(ctx: StudyContext) -> None:
    features = ctx.run.features(ctx.run.radiomics_features)
    if features is None or features.empty:
        raise StageSkipped("no case yielded radiomics features")
    feature_family_stage(ctx, Model.RADIOMICS, features, "table4_radiomics_models",
                         "Table 4. Performance of the radiomics models", "lasso_radiomics",
                         "roc_radiomics")


def family_settings(ctx: StudyContext) -> object:
    """What a feature family reads: selection and classifier settings, not clinical thresholds."""
    cfg = ctx.config
    return [cfg.selection.model_dump(mode="json"),
            cfg.models.model_dump(mode="json", exclude={"clinical_p", "univariable_p"}),
            cfg.seed, cfg.harmonisation.model_dump(mode="json")]


RADIOMICS_MODEL = Stage(
    "radiomics_model", radiomics_model, "Radiomics models (Table 4)", needs=("radiomics",),
    settings=family_settings,
    writes=("tables/selection_stability_radiomics.*", "tables/site_effects_radiomics.*",
            "figures/site_effects_radiomics.png",
            "tables/table4_radiomics_models.*", "figures/lasso_radiomics*.png",
            "figures/roc_radiomics.png", "predictions/radiomics.csv", "models/radiomics.*"),
    outline=Section("Radiomics model", (
        figure("lasso_radiomics", "Supplementary Figure 3A. LASSO coefficient paths, "
                                  "handcrafted features"),
        figure("lasso_radiomics_cv", "Supplementary Figure 3B. LASSO cross-validation error"),
        figure("lasso_radiomics_coefficients", "Supplementary Figure 3C. Selected "
                                               "handcrafted features"),
        table("table4_radiomics_models", "Table 4. Performance of the radiomics models"),
        table("selection_stability_radiomics",
              "Selection frequency of the features over patient subsamples"),
        table("site_effects_radiomics", "Site effects before and after harmonisation"),
        figure("site_effects_radiomics", "Site effects of the handcrafted features before "
                                         "and after ComBat"),
        figure("roc_radiomics", "Supplementary Figure 4. ROC curves of the radiomics models"),
    )))
