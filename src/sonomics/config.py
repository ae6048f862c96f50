"""The one validated configuration object that drives every sonomics step.

A study is described by a single YAML file that loads into :class:`StudyConfig`.
Every default is the setting of Wang et al. 2024 (Front. Oncol. 14:1384105):
7:3 split, ICC >= 0.85, t-test p < 0.05, |r| > 0.9, LASSO with 10-fold CV,
5-fold grid search, PCA to 512 deep features, DenseNet121/VGG19/ResNet50 and
the seven classifiers. Each section is its own model so that the part of the
code it configures can be read next to its settings.

An invalid value raises :class:`ConfigError` with one line per problem, naming
the dotted key and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sonomics.cohort_config import DataConfig, HarmonisationConfig, SplitConfig
from sonomics.reporting_config import ReportingConfig
from sonomics.segment_config import SegmentConfig

PAPER_CLASSIFIERS = ["LR", "SVM", "RandomForest", "ExtraTrees", "XGBoost", "LightGBM", "MLP"]
PAPER_BACKBONES = ["densenet121", "vgg19", "resnet50"]
#: the quick (CPU) profile's recipe; measured in benchmarks/real_data.md "CPU recipe"
QUICK_BACKBONE = "resnet18"
QUICK_CROP_MARGIN = 0.25
QUICK_TIME_BUDGET_MIN = 10.0
ICC_FORMS = ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]


class ConfigError(ValueError):
    """A configuration value is missing or not allowed; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RadiomicsConfig(_Section):
    """Handcrafted radiomics extraction (pyradiomics) and reader reproducibility."""

    params: Path | None = Field(
        None, description="pyradiomics parameter YAML; null = the shipped 2D file"
    )
    bin_width: float = Field(25.0, gt=0, description="fixed bin width (pyradiomics binWidth)")
    bin_count: int | None = Field(
        None, ge=2, description="fixed bin count instead of bin width (null = use bin_width)"
    )
    sigma_in_pixels: bool = Field(
        True, description="LoG sigma in pixels (spacing not applied to filters)"
    )
    workers: int = Field(0, ge=0, description="extraction processes (0 = all cores)")
    scheduler: str | None = Field(
        None, description="Dask scheduler address (tcp://HOST:PORT) for scale-out"
    )
    icc_form: Literal["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"] = Field(
        "ICC2", description="ICC form used to filter features (ICC2 = two-way random, single)"
    )
    icc_threshold: float = Field(0.85, ge=0, le=1, description="keep features with ICC >= this")
    perturbation: bool = Field(
        True, description="pseudo-reader (perturbation ICC) when no second-reader mask exists"
    )
    perturbation_extra: bool = Field(
        False, description="perturbation ICC also with 2-px erosion/dilation, slight rotation "
        "and noise pseudo-readers"
    )
    icc_subset: int | None = Field(
        100, ge=3, description="cases used for ICC (paper: 100 random patients); null = all"
    )


class SelectionConfig(_Section):
    """Feature selection chain (paper 2.6)."""

    univariate_test: Literal["welch", "mannwhitney"] = Field(
        "welch", description="two-sample test between classes"
    )
    p_threshold: float = Field(0.05, gt=0, le=1, description="keep features with p < this")
    corr_threshold: float = Field(0.9, gt=0, le=1, description="|Pearson r| above which to prune")
    greedy_max_features: int = Field(
        64, ge=1, description="greedy elimination stops at this many features"
    )
    greedy_mean_r: float = Field(
        0.5, ge=0, le=1, description="greedy elimination also stops when max mean |r| < this"
    )
    lasso_folds: int = Field(10, ge=2, description="folds of the LASSO cross-validation")
    stability_resamples: int = Field(
        50, ge=0, description="patient subsamples (80%) on which the selection is refitted "
        "to report each feature's selection frequency; 0 = not reported")


class ModelsConfig(_Section):
    """Classifiers and the clinical model (paper 2.7)."""

    classifiers: list[str] = Field(default_factory=lambda: list(PAPER_CLASSIFIERS))
    cv_folds: int = Field(5, ge=2, description="folds of the grid search")
    clinical_p: float = Field(
        0.05, gt=0, le=1, description="multivariable p below which a clinical factor is kept"
    )
    univariable_p: float = Field(
        0.05, gt=0, le=1,
        description="univariable p below which a clinical variable enters the multivariable model",
    )

    @field_validator("classifiers")
    @classmethod
    def _known_classifiers(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in PAPER_CLASSIFIERS]
        if unknown:
            raise ValueError(f"unknown classifiers {unknown}; allowed: {PAPER_CLASSIFIERS}")
        if not value:
            raise ValueError("at least one classifier is needed")
        return value


class PretrainConfig(_Section):
    """Self-supervised (SimCLR) pretraining of each backbone before fine-tuning: for
    machines without ImageNet weights. Sees the TRAINING cases' ROI crops (never a test or
    external image) and, when given, a folder of the user's own unlabelled images."""

    epochs: int = Field(0, ge=0, description="SimCLR epochs; 0 = no pretraining")
    folder: Path | None = Field(
        None, description="extra unlabelled images (searched recursively), e.g. a PACS "
        "export; must not hold the study's test images")
    batch_size: int = Field(64, ge=4, description="images per step (2 views each)")
    learning_rate: float = Field(1e-3, gt=0)
    temperature: float = Field(0.5, gt=0, description="NT-Xent temperature")


class DeepConfig(_Section):
    """CNN transfer learning and deep features (paper 2.5)."""

    profile: Literal["quick", "paper"] = Field("paper", description="hardware profile")
    backbones: list[str] = Field(default_factory=lambda: list(PAPER_BACKBONES))
    weights: dict[str, Path] = Field(
        default_factory=dict,
        description="backbone -> local ImageNet weight file (else torchvision cache, else random)",
    )
    input_size: int = Field(224, ge=32, description="square input size in pixels")
    crop_margin: float = Field(
        0.0, ge=0, description="margin around the ROI bounding box, fraction of its size"
    )
    crop_margin_candidates: list[float] = Field(
        default_factory=list, description="margins to compare (e.g. [0, 0.25]): each "
        "trains the out-of-fold CNNs of the first backbone on the training cases, and the "
        "margin with the best out-of-fold AUC is used (replaces deep.crop_margin; costs "
        "one set of fold CNNs per extra margin). Empty: deep.crop_margin")
    mask_channel: bool = Field(
        False, description="feed the ROI mask as the third input channel (image, image, "
        "mask) so the CNN sees the lesion's outline; the paper: off (grey replicated)")
    vertical_flip: bool = Field(False, description="vertical-flip augmentation (paper profile: on)")
    normalisation: Literal["per_image", "train_stats"] = Field(
        "per_image", description="z-score per image or with training-set mean/SD"
    )
    epochs: int = Field(30, ge=1, description="epochs at most (early stopping can end sooner)")
    time_budget_min: float | None = Field(
        None, gt=0, description="minutes of CNN training for the whole stage (every backbone "
        "and the out-of-fold CNNs; deep.pretrain not counted): the epochs are set from step "
        "times measured before training (recorded, so a rerun keeps them), never above "
        "deep.epochs; unset: deep.epochs")
    finish_within_min: float | None = Field(
        None, gt=0, description="aim to finish the whole study within this many minutes of "
        "stage time: the CNNs train for at most what is left after the stages before them "
        "(their recorded seconds) and an estimate of those after them; never more than "
        "deep.time_budget_min (which it needs)")
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    warmup_epochs: int = Field(0, ge=0)
    optimizer: Literal["adamw", "sgd"] = Field("adamw")
    weight_decay: float = Field(1e-4, ge=0)
    val_fraction: float = Field(0.15, gt=0, lt=0.5, description="validation carved from training")
    early_stopping: int = Field(8, ge=1, description="epochs without validation gain before stop")
    pca_components: int = Field(512, ge=1, description="PCA components of the deep features")
    feature_map: bool = Field(
        False, description="use the flattened last feature map instead of pooled features"
    )
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto")
    isolate: bool = Field(
        True, description="train each CNN in a child process (Linux) so the study's process "
        "never holds training memory; costs an interpreter start per CNN")

    @field_validator("backbones")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one backbone is needed")
        return [v.lower() for v in value]

    def margin_words(self, chosen: float | None = None) -> str:
        """The crop margin for Methods texts: the set one, or the one the study chose
        (``chosen``, from the stored deep model) and how."""
        if not self.crop_margin_candidates:
            return f"margin {self.crop_margin:g}"
        listed = ", ".join(f"{m:g}" for m in self.crop_margin_candidates)
        picked = "not yet chosen" if chosen is None else f"{chosen:g}"
        return (f"margin {picked}, chosen among {listed} by the CNN's out-of-fold training "
                "AUC")

    @model_validator(mode="after")
    def _deadline_needs_a_budget(self) -> DeepConfig:
        if self.finish_within_min is not None and self.time_budget_min is None:
            raise ValueError("deep.finish_within_min needs deep.time_budget_min (the most "
                             "the CNNs may take when the study runs fast)")
        return self

    @model_validator(mode="after")
    def _margin_choice_without_pretraining(self) -> DeepConfig:
        if self.crop_margin_candidates and self.pretrain.epochs:
            raise ValueError("deep.crop_margin_candidates with deep.pretrain is not "
                             "supported: the pretraining learns from crops of one margin; "
                             "choose the margin first, then set it in deep.crop_margin")
        return self

    @field_validator("crop_margin_candidates")
    @classmethod
    def _margins(cls, value: list[float]) -> list[float]:
        if value and (len(set(value)) < 2 or min(value) < 0):
            raise ValueError("give at least two different margins, each >= 0 (or leave it "
                             "empty to use deep.crop_margin)")
        return value


class FusionConfig(_Section):
    """What the CNN contributes to the fused DLR model (default: an honest, out-of-fold input)."""

    deep_input: Literal["features", "oof_score"] = Field(
        "oof_score", description="'oof_score' (default): the CNN's malignancy probability, "
        "OUT-OF-FOLD on training cases (one extra CNN per fold of the training set, grouped "
        "by patient) and the mean of those fold CNNs elsewhere (the same scale), so no "
        "training case's input comes from a network fitted to it. 'features': the paper's "
        "PCA deep features, which on training cases come from a CNN fitted to them: the DLR "
        "score the nomogram is fitted on is then optimistic (the report says so)"
    )
    oof_folds: int = Field(5, ge=2, description="folds of the out-of-fold CNN score (the "
                           "quick profile uses at most 3)")


class ComparatorsConfig(_Section):
    """Comparator models beside the paper's five: the radiologist's verdict and the outline."""

    birads: str | None = Field(
        "birads", description="manifest column: BI-RADS category, a comparator model "
        "(never a predictor); null = none"
    )
    shape_only: bool = Field(True, description="fit a model on the nine 2D shape features alone")


class PredictConfig(_Section):
    """What `sonomics predict` does with a new patient's missing clinical value."""

    impute_missing: bool = Field(
        False, description="false: a case with a missing clinical value gets an error row for "
        "the clinical model and the nomogram (its image models are still scored); true: "
        "impute it as in training (median / 'missing' level) and list it in 'imputed'"
    )


class StudyConfig(_Section):
    """A whole study: cohort, split, radiomics, selection, models, deep learning."""

    name: str = Field("sonomics study", description="title used in reports")
    out: Path = Field(Path("runs/study"), description="run directory")
    seed: int = Field(42, description="global seed (models, CV folds, CNN)")
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    harmonisation: HarmonisationConfig = Field(default_factory=HarmonisationConfig)
    radiomics: RadiomicsConfig = Field(default_factory=RadiomicsConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    deep: DeepConfig = Field(default_factory=DeepConfig)
    comparators: ComparatorsConfig = Field(default_factory=ComparatorsConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    segment: SegmentConfig = Field(default_factory=SegmentConfig)
    reporting: ReportingConfig = Field(default_factory=ReportingConfig)

    @model_validator(mode="after")
    def _verdict_is_not_a_predictor(self) -> StudyConfig:
        column = self.comparators.birads
        if column and column in (*self.data.continuous, *self.data.categorical):
            raise ValueError(
                f"column {column!r} is the BI-RADS comparator (comparators.birads) and a "
                "clinical predictor: BI-RADS is the radiologist's verdict on the same images, "
                "so a model using it is judged against itself. Remove it from data.continuous/"
                "data.categorical, or set comparators.birads: null to use it as a predictor")
        return self

    # ----------------------------------------------------------------- I/O
    @classmethod
    def from_dict(cls, raw: dict[str, Any], base_dir: Path | None = None) -> StudyConfig:
        """Validate a mapping; relative paths are taken relative to ``base_dir``."""
        try:
            cfg = cls.model_validate(raw or {})
        except ValidationError as exc:
            raise ConfigError(_format_errors(exc)) from None
        if base_dir is not None:
            cfg = cfg.resolved_against(base_dir)
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> StudyConfig:
        """Read and validate a YAML config file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"{path}: top level must be a mapping of settings")
        return cls.from_dict(raw or {}, base_dir=path.parent)

    def resolved_against(self, base_dir: Path) -> StudyConfig:
        """Copy with the manifest, out and parameter paths made absolute."""
        def absolute(p: Path | None) -> Path | None:
            if p is None or p.is_absolute():
                return p
            return (base_dir / p).resolve()

        cfg = self.model_copy(deep=True)
        cfg.data.manifest = absolute(cfg.data.manifest)
        cfg.radiomics.params = absolute(cfg.radiomics.params)
        cfg.out = absolute(cfg.out) or cfg.out
        cfg.deep.weights = {k: absolute(v) for k, v in cfg.deep.weights.items()}
        return cfg

    def to_yaml(self) -> str:
        """The resolved config as YAML (written into every run directory)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting (check the spelling; `sonomics init` writes every key)"
        elif err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
            msg = f"must be one of {err['ctx']['expected']}"
        if not err["loc"]:  # a check across sections: its message names the keys
            lines.append(f"config: {msg.removeprefix('Value error, ')}")
            continue
        lines.append(f"config key '{key}': {msg} (got {err.get('input')!r})")
    return "\n".join(lines)


def apply_profile(cfg: StudyConfig, profile: str) -> StudyConfig:
    """Return a copy with the hardware profile's deep-learning settings applied.

    ``quick`` (CPU, demo): the CPU recipe (``docs/deep.md``): one CPU-sized backbone
    (ResNet18 unless the config names other backbones than the paper's: then its first),
    128-px input, the ROI crop with a 25% context margin unless the config sets another
    margin than the paper's 0, and training until early stopping within a time budget
    (``deep.time_budget_min``, 10 min unless set) instead of a fixed number of epochs;
    the segmenter at 128 px with a short schedule (BUS-BRA: test Dice median 0.914 in 12
    epochs on 2 cores).
    ``paper``: the three backbones, 224 px, full schedule, vertical flips as in the paper;
    the segmenter keeps its own defaults (256 px, 40 epochs: a GPU's work).
    """
    cfg = cfg.model_copy(deep=True)
    if profile == "quick":
        deep = cfg.deep
        chosen = {k for k in deep.model_fields_set  # the paper's value is no choice
                  if getattr(deep, k) != DeepConfig.model_fields[k].get_default(
                      call_default_factory=True)}
        deep.profile = "quick"
        deep.backbones = deep.backbones[:1] if "backbones" in chosen else [QUICK_BACKBONE]
        deep.input_size = 128
        if "crop_margin" not in chosen:
            deep.crop_margin = QUICK_CROP_MARGIN
        if "time_budget_min" not in chosen:
            deep.time_budget_min = QUICK_TIME_BUDGET_MIN
        deep.epochs = min(deep.epochs, 30)
        deep.early_stopping = min(deep.early_stopping, 5)
        cfg.deep.batch_size = 32
        cfg.deep.learning_rate = 3e-4
        cfg.fusion.oof_folds = min(cfg.fusion.oof_folds, 3)
        seg = cfg.segment
        seg.input_size = min(seg.input_size, 128)
        seg.epochs = min(seg.epochs, 14)
        seg.early_stopping = min(seg.early_stopping, 4)
        seg.batch_size = max(seg.batch_size, 16)
    elif profile == "paper":
        cfg.deep.profile = "paper"
        cfg.deep.backbones = list(PAPER_BACKBONES)
        cfg.deep.input_size = 224
        cfg.deep.vertical_flip = True
    else:
        raise ConfigError(f"config key 'deep.profile': must be one of ['quick', 'paper'] "
                          f"(got {profile!r})")
    return cfg
