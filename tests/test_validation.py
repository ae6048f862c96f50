"""One test per validation problem: each fails if its check is removed."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import disk_mask, study_config, write_png
from sonomics.cli import app
from sonomics.data.manifest import COHORT, load_cohort
from sonomics.data.validation import validate_cohort


def problems_of(manifest, **data):
    cohort = load_cohort(study_config(manifest, **data))
    validate_cohort(cohort)
    return cohort


def has(cohort, case_id, field, severity, text):
    return any(p.case_id == case_id and p.field == field and p.severity == severity
               and text in p.message for p in cohort.problems)


def test_valid_cohort_has_no_problem(small_cohort):
    cohort = problems_of(small_cohort.build())
    assert cohort.problems == []
    assert len(cohort.usable()) == 12


def test_missing_file(small_cohort):
    small_cohort.frame.loc[0, "image"] = "img/nowhere.png"
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C00", "image", "error", "file not found")
    assert "C00" in cohort.excluded_cases() and len(cohort.usable()) == 11


def test_truncated_image(small_cohort):
    path = small_cohort.root / "img" / "C01.png"
    path.write_bytes(path.read_bytes()[:60])
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C01", "image", "error", "unreadable or truncated")


def test_unreadable_image(small_cohort):
    (small_cohort.root / "img" / "C02.png").write_bytes(b"this is not a png at all")
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C02", "image", "error", "unreadable")


def test_image_mask_size_mismatch(small_cohort):
    write_png(small_cohort.root / "msk" / "C03.png", np.zeros((30, 30), np.uint8) + 255)
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C03", "mask", "error", "does not match the image size")


def test_empty_mask(small_cohort):
    write_png(small_cohort.root / "msk" / "C04.png", np.zeros((64, 80), np.uint8))
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C04", "mask", "error", "mask is empty")


def test_roi_smaller_than_minimum(small_cohort):
    tiny = np.zeros((64, 80), np.uint8)
    tiny[10:13, 10:13] = 255  # 9 pixels < 25
    write_png(small_cohort.root / "msk" / "C05.png", tiny)
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C05", "mask", "error", "fewer than data.min_roi_pixels = 25")
    relaxed = problems_of(small_cohort.build(), min_roi_pixels=5)
    assert not has(relaxed, "C05", "mask", "error", "min_roi_pixels")


def test_all_ones_mask(small_cohort):
    write_png(small_cohort.root / "msk" / "C05.png", np.full((64, 80), 255, np.uint8))
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C05", "mask", "error", "whole image")


def test_disconnected_components_is_a_warning(small_cohort):
    two = (disk_mask(center=(20, 20), radius=6) | disk_mask(center=(45, 60), radius=6))
    write_png(small_cohort.root / "msk" / "C06.png", two.astype(np.uint8) * 255)
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C06", "mask", "warning", "2 disconnected components")
    assert "C06" not in cohort.excluded_cases()


def test_stray_mask_value_is_a_warning_and_label_selects(small_cohort):
    mask = disk_mask().astype(np.uint8) * 255
    mask[0, 0] = 75
    write_png(small_cohort.root / "msk" / "C07.png", mask)
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C07", "mask", "warning", "holds 3 values (0, 75, 255)")
    exact = problems_of(small_cohort.build(), mask_label=255)
    assert not any(p.case_id == "C07" for p in exact.problems)


def test_unmappable_label(small_cohort):
    small_cohort.frame.loc[8, "label"] = "borderline"
    small_cohort.frame.loc[9, "label"] = "  Malignant "  # whitespace/case are fine
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C08", "label", "error", "'borderline' is not one of")
    assert not any(p.case_id == "C09" for p in cohort.problems)
    assert cohort.table.loc["C09", "label"] == 1


def test_duplicate_case_ids(small_cohort):
    small_cohort.frame.loc[10, "case_id"] = "C11"
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C11", "case_id", "error", "duplicate case id (2 rows)")


def test_required_column_missing(small_cohort):
    cohort = problems_of(small_cohort.build(small_cohort.frame.drop(columns=["mask"])))
    assert has(cohort, COHORT, "mask", "error", "required column missing")


def test_non_numeric_continuous_value(small_cohort):
    small_cohort.frame.loc[2, "age"] = "forty"
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C02", "age", "error", "non-numeric value 'forty'")


def test_missing_continuous_value_is_a_warning(small_cohort):
    small_cohort.frame.loc[3, "age"] = "not available"
    cohort = problems_of(small_cohort.build())
    assert has(cohort, "C03", "age", "warning", "missing value")
    assert np.isnan(cohort.table.loc["C03", "age"])


def test_categorical_with_one_level(small_cohort):
    small_cohort.frame["shape"] = "regular"
    cohort = problems_of(small_cohort.build())
    assert has(cohort, COHORT, "shape", "error", "1 level(s)")


def test_only_one_class(small_cohort):
    small_cohort.frame["label"] = "benign"
    cohort = problems_of(small_cohort.build())
    assert has(cohort, COHORT, "label", "error", "only one class")


@pytest.mark.parametrize("broken", [False, True])
def test_cli_validate_exit_code(small_cohort, tmp_path, broken):
    if broken:
        small_cohort.frame.loc[0, "mask"] = "msk/none.png"
    else:  # a warning alone must not fail
        small_cohort.frame.loc[3, "age"] = ""
    manifest = small_cohort.build()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"data:\n  manifest: {manifest}\n  continuous: [age]\n"
                   "  categorical: [shape]\n")
    result = CliRunner().invoke(app, ["validate", str(cfg), "--json"])
    assert result.exit_code == (1 if broken else 0), result.output
    assert ("C00" in result.output) == broken
