"""The config: paper defaults, clear errors naming the key, templates that validate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sonomics.cli import app
from sonomics.config import (
    PAPER_BACKBONES,
    PAPER_CLASSIFIERS,
    ConfigError,
    StudyConfig,
    apply_profile,
)
from sonomics.config_template import config_template


def test_defaults_are_the_papers_settings():
    cfg = StudyConfig()
    assert cfg.split.test_size == 0.3
    assert cfg.radiomics.icc_threshold == 0.85
    assert cfg.selection.p_threshold == 0.05 and cfg.selection.corr_threshold == 0.9
    assert cfg.selection.lasso_folds == 10 and cfg.models.cv_folds == 5
    assert cfg.deep.pca_components == 512
    assert cfg.deep.backbones == PAPER_BACKBONES
    assert cfg.models.classifiers == PAPER_CLASSIFIERS


@pytest.mark.parametrize(("raw", "key", "text"), [
    ({"split": {"test_size": 1.5}}, "split.test_size", "less than 1"),
    ({"radiomics": {"icc_form": "ICC9"}}, "radiomics.icc_form", "must be one of"),
    ({"models": {"classifiers": ["LR", "KNN"]}}, "models.classifiers", "allowed"),
    ({"selection": {"pvalue": 0.1}}, "selection.pvalue", "unknown setting"),
    ({"data": {"label_map": {"benign": 0, "malignant": 2}}}, "data.label_map", "0 (benign)"),
])
def test_invalid_value_names_key_and_allowed(raw, key, text):
    with pytest.raises(ConfigError) as info:
        StudyConfig.from_dict(raw)
    message = str(info.value)
    assert f"'{key}'" in message and text in message
    assert len(message.splitlines()) == 1


def test_yaml_paths_resolve_against_the_config_folder(tmp_path: Path):
    (tmp_path / "cfg").mkdir()
    path = tmp_path / "cfg" / "study.yaml"
    path.write_text("data:\n  manifest: ../cohort/manifest.csv\nout: runs/x\n")
    cfg = StudyConfig.load(path)
    assert cfg.data.manifest == (tmp_path / "cohort" / "manifest.csv").resolve()
    assert cfg.out == (tmp_path / "cfg" / "runs" / "x").resolve()


def test_bad_yaml_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        StudyConfig.load(path)


def test_template_round_trips_to_defaults():
    raw = yaml.safe_load(config_template())
    assert StudyConfig.from_dict(raw) == StudyConfig()
    assert "# " in config_template()  # commented


def test_profiles():
    quick = apply_profile(StudyConfig(), "quick")
    assert len(quick.deep.backbones) == 1 and quick.deep.input_size < 224
    assert quick.segment.input_size == 128 and quick.segment.epochs < StudyConfig().segment.epochs
    paper = apply_profile(StudyConfig(), "paper")
    assert paper.deep.backbones == PAPER_BACKBONES and paper.deep.vertical_flip


def test_quick_profile_is_the_cpu_recipe_unless_the_config_chose():
    quick = apply_profile(StudyConfig(), "quick")
    assert quick.deep.backbones == ["resnet18"]
    assert quick.deep.crop_margin == 0.25 and quick.deep.time_budget_min == 10
    assert quick.deep.epochs > 4  # trained until early stopping within the budget
    chosen = StudyConfig.from_dict({"deep": {"backbones": ["vgg19", "resnet50"],
                                             "crop_margin": 0.1, "time_budget_min": 30}})
    kept = apply_profile(chosen, "quick")
    assert kept.deep.backbones == ["vgg19"]
    assert kept.deep.crop_margin == 0.1 and kept.deep.time_budget_min == 30
    # a template written by `sonomics init` spells out the paper's values: not a choice
    template = StudyConfig.from_dict(yaml.safe_load(config_template()))
    assert apply_profile(template, "quick").deep == quick.deep


def test_init_with_manifest_declares_clinical_columns(small_cohort, tmp_path: Path):
    manifest = small_cohort.build()
    frame = small_cohort.frame.assign(birads=["3", "4a"] * 6)
    frame.to_csv(manifest, index=False)
    study = tmp_path / "study"
    result = CliRunner().invoke(app, ["init", str(study), "--manifest", str(manifest)])
    assert result.exit_code == 0, result.output
    cfg = StudyConfig.load(study / "config.yaml")
    assert cfg.data.manifest == manifest.resolve()
    assert cfg.data.continuous == ["age"] and cfg.data.categorical == ["shape"]
    text = (study / "config.yaml").read_text()
    assert "birads" in text.splitlines()[0]  # reported as left out
    again = CliRunner().invoke(app, ["init", str(study)])
    assert again.exit_code != 0 and "--force" in again.output


@pytest.mark.parametrize("name", ["breast-lesions-usg.yaml", "bus-bra.yaml"])
def test_shipped_example_configs_validate(name):
    path = Path(__file__).resolve().parents[1] / "examples" / name
    cfg = StudyConfig.load(path)
    assert cfg.data.manifest.name == "manifest.csv"
