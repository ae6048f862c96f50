"""Public dataset adapters: BUSI on a generated folder; BrEaST and BUS-BRA on ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SHARED, disk_mask, write_png
from sonomics.cli import app
from sonomics.config import StudyConfig
from sonomics.data.adapters import AdapterError, convert_dataset
from sonomics.data.images import read_mask
from sonomics.data.manifest import load_cohort
from sonomics.data.validation import validate_cohort


def make_busi(root: Path) -> None:
    rng = np.random.default_rng(0)
    for cls, names in {"benign": ["benign (1)", "benign (2)"],
                       "malignant": ["malignant (1)"], "normal": ["normal (1)"]}.items():
        for name in names:
            write_png(root / cls / f"{name}.png", rng.integers(0, 255, (40, 50), np.uint8))
            write_png(root / cls / f"{name}_mask.png",
                      disk_mask((40, 50), (15, 15), 6).astype(np.uint8) * 255)
    # an extra lesion mask for benign (2): merged into one ROI
    write_png(root / "benign" / "benign (2)_mask_1.png",
              disk_mask((40, 50), (28, 38), 5).astype(np.uint8) * 255)


def test_busi_layout_merges_extra_masks_and_drops_normal(tmp_path: Path):
    make_busi(tmp_path / "BUSI")
    path, frame = convert_dataset("busi", tmp_path / "BUSI", tmp_path / "out")
    assert path == tmp_path / "out" / "manifest.csv"
    assert sorted(frame["label"]) == ["benign", "benign", "malignant"]
    merged = frame.loc[frame["case_id"] == "benign_benign_2", "mask"].item()
    assert merged.count("|") == 1
    single = read_mask(frame.loc[frame["case_id"] == "benign_benign_1", "mask"].item())
    assert read_mask(merged).sum() > single.sum()
    cohort = load_cohort(StudyConfig.from_dict({"data": {"manifest": str(path)}}))
    assert cohort.errors == [] and len(cohort.table) == 3


def test_unknown_dataset_and_wrong_layout(tmp_path: Path):
    with pytest.raises(AdapterError, match="unknown dataset"):
        convert_dataset("busx", tmp_path, tmp_path / "o")
    with pytest.raises(AdapterError, match="benign"):
        convert_dataset("busi", tmp_path, tmp_path / "o")


needs_breast = pytest.mark.skipif(not (SHARED / "data" / "breast-lesions-usg").is_dir(),
                                  reason="../shared/data/breast-lesions-usg is not present")
needs_busbra = pytest.mark.skipif(not (SHARED / "data" / "bus-bra").is_dir(),
                                  reason="../shared/data/bus-bra is not present")


@needs_breast
def test_breast_lesions_usg_counts(tmp_path: Path):
    result = CliRunner().invoke(app, ["datasets", "convert", "breast-lesions-usg",
                                      str(SHARED / "data" / "breast-lesions-usg"),
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "252 cases (154 benign, 98 malignant)" in " ".join(result.output.split())
    cohort = load_cohort(StudyConfig.from_dict(
        {"data": {"manifest": str(tmp_path / "manifest.csv"), "spacing": "spacing_mm",
                  "continuous": ["age"], "categorical": ["shape", "margin"]}}))
    assert len(cohort.table) == 252 and not cohort.errors
    assert cohort.table["age"].isna().sum() > 0  # "not available" -> missing
    assert cohort.table["spacing_row"].between(0.04, 0.14).all()  # cm -> mm
    frame = load_cohort(StudyConfig.from_dict(
        {"data": {"manifest": str(tmp_path / "manifest.csv"),
                  "categorical": ["posterior_features", "shape"]}})).table
    assert frame["posterior_features"].value_counts().to_dict() == {
        "absent": 159, "shadowing": 50, "enhancement": 36, "combined": 7}
    assert frame["shape"].value_counts().to_dict() == {"irregular": 140, "regular": 112}


@needs_busbra
def test_bus_bra_counts(tmp_path: Path):
    path, frame = convert_dataset("bus-bra", SHARED / "data" / "bus-bra", tmp_path)
    assert len(frame) == 1875 and frame["patient_id"].nunique() == 1064
    assert frame["fold5"].notna().all()
    assert {"birads", "device"} <= set(frame.columns)


def test_manifest_paths_are_absolute_when_the_source_is_relative(tmp_path: Path, monkeypatch):
    make_busi(tmp_path / "BUSI")
    monkeypatch.chdir(tmp_path)
    path, frame = convert_dataset("busi", Path("BUSI"), Path("elsewhere/out"))
    assert all(Path(p).is_absolute() for p in frame["image"])
    cohort = load_cohort(StudyConfig.from_dict({"data": {"manifest": str(path.resolve())}}))
    validate_cohort(cohort)
    assert cohort.errors == []



def test_convert_keeps_an_existing_manifest_unless_forced(tmp_path):
    make_busi(tmp_path / "BUSI")
    path, _ = convert_dataset("busi", tmp_path / "BUSI", tmp_path / "out")
    path.write_text(path.read_text() + "# my edits\n")
    with pytest.raises(AdapterError, match="--force"):
        convert_dataset("busi", tmp_path / "BUSI", tmp_path / "out")
    assert path.read_text().endswith("# my edits\n")
    convert_dataset("busi", tmp_path / "BUSI", tmp_path / "out", force=True)
    assert "# my edits" not in path.read_text()
