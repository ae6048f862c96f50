"""The deep stage end to end on a tiny synthetic cohort, and its command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from _deep_data import write_cohort
from sonomics.cli import app
from sonomics.config import StudyConfig
from sonomics.deep.pipeline import check_cases, choose_backbone, run_deep


def _config(**deep) -> StudyConfig:
    settings = dict(backbones=["resnet18"], input_size=32, epochs=2, batch_size=8,
                    val_fraction=0.25, pca_components=512, learning_rate=1e-3,
                    isolate=False)  # the child-process path: tests/test_deep_isolated.py
    settings.update(deep)
    return StudyConfig(deep=settings)


def test_run_writes_table5_features_curves_and_gradcam(tmp_path):
    external = write_cohort(tmp_path / "ext", n=4, seed=5).assign(split="external")
    cases = pd.concat([write_cohort(tmp_path / "data", n=24), external.rename("x{}".format)])
    result = run_deep(cases, _config(), tmp_path / "run", progress=False, pretrained=False)
    out = tmp_path / "run"
    assert list(result.table5["Model"]) == ["Resnet18-training (apparent)", "Resnet18-testing",
                                            "Resnet18-external"]
    assert (out / "tables" / "table5_deep.md").read_text().count("RANDOM initialisation") == 1
    features = pd.read_parquet(out / "deep" / "deep_features.parquet")
    assert features.index.name == "case_id" and len(features) == 28
    assert features.shape[1] == 15  # capped at n_train - 1 (16 training cases)
    assert (out / "figures" / "training_curve_resnet18.png").is_file()
    assert (out / "figures" / "fig3_gradcam_resnet18.png").is_file()
    summary = json.loads((out / "deep" / "deep_summary.json").read_text())
    assert summary["random_init"] and summary["chosen_backbone"] == "resnet18"
    assert summary["pca_capped"] and result.random_init
    assert summary["n_cases"] == {"train": 16, "test": 8, "external": 4}


def test_backbone_is_chosen_by_validation_auc():
    assert choose_backbone({"a": 0.7, "b": 0.8, "c": float("nan")}, ["a", "b", "c"]) == "b"
    assert choose_backbone({"a": 0.8, "b": 0.8}, ["a", "b"]) == "a"


def test_case_table_errors_name_the_field():
    frame = pd.DataFrame({"image": ["x"], "mask": ["y"], "label": [2], "patient_id": ["p"],
                          "split": ["train"]}, index=["c1"])
    with pytest.raises(ValueError, match="case c1, field 'label'"):
        check_cases(frame)
    with pytest.raises(ValueError, match="lacks column"):
        check_cases(frame.drop(columns="split"))


def test_cli_reports_a_bad_profile_in_one_line(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("deep: {epochs: 1}\n")
    result = CliRunner().invoke(app, ["deep", str(config), "--profile", "huge"])
    assert result.exit_code == 1 and "deep.profile" in result.output
    assert "Traceback" not in result.output
