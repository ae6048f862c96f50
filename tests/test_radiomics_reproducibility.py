"""Reader reproducibility: ICC table (psych::ICC parity) and perturbation pseudo-readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _radiomics_data import SMALL_PARAMS, lesion_arrays, write_case
from sonomics.radiomics.engine import run_extraction
from sonomics.radiomics.extract import ExtractionTask
from sonomics.radiomics.reproducibility import (
    DEFAULT_PERTURBATIONS,
    PerturbationError,
    apply_perturbation,
    feature_icc_table,
    perturbation_tasks,
)

FIXTURES = Path(__file__).parent / "fixtures" / "r-gold"  # psych::ICC reference


def _reader_tables() -> dict[str, pd.DataFrame]:
    ratings = pd.read_csv(FIXTURES / "icc_ratings.csv")
    return {r: ratings.pivot(index="subject", columns="feature", values=r)
            for r in ("reader1", "reader2")}


@pytest.mark.parametrize("form", ["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"])
def test_icc_table_equals_psych(form):
    expected = pd.read_csv(FIXTURES / "icc_expected.csv")
    expected = expected[expected["type"] == form].set_index("feature")
    table = feature_icc_table(_reader_tables(), form=form).set_index("feature")
    assert len(table) == len(expected)
    for col in ("icc", "lower", "upper"):
        np.testing.assert_allclose(table.loc[expected.index, col], expected[col],
                                   atol=1e-6, rtol=0)
    assert set(table["form"]) == {form}


def test_icc_threshold_marks_kept_features_and_constant_ones_are_dropped():
    tables = _reader_tables()
    for t in tables.values():
        t["constant"] = 1.0
    table = feature_icc_table(tables, threshold=0.85).set_index("feature")
    assert np.isnan(table.loc["constant", "icc"]) and not table.loc["constant", "keep"]
    assert (table["keep"] == (table["icc"] >= 0.85)).all()


def test_icc_uses_only_cases_rated_by_every_reader():
    tables = _reader_tables()
    tables["reader2"] = tables["reader2"].iloc[5:]
    table = feature_icc_table(tables)
    assert set(table["n_cases"]) == {len(tables["reader1"]) - 5}


def test_erode_and_dilate_move_the_contour_by_whole_pixels():
    image, mask = lesion_arrays(seed=1)
    _, eroded = apply_perturbation(image, mask, "erode:1")
    _, eroded2 = apply_perturbation(image, mask, "erode:2")
    _, dilated = apply_perturbation(image, mask, "dilate:1")
    assert eroded2.sum() < eroded.sum() < mask.sum() < dilated.sum()
    assert not (eroded & ~mask).any() and not (mask & ~dilated).any()


def test_jitter_is_seeded_small_and_changes_the_contour():
    image, mask = lesion_arrays(seed=2)
    _, a = apply_perturbation(image, mask, "jitter:2:5")
    _, b = apply_perturbation(image, mask, "jitter:2:5")
    _, c = apply_perturbation(image, mask, "jitter:2:6")
    assert (a == b).all() and (a != c).any() and (a != mask).any()
    dice = 2 * (a & mask).sum() / (a.sum() + mask.sum())
    assert 0.8 < dice < 1.0


def test_rotation_and_noise_change_the_image_slightly():
    image, mask = lesion_arrays(seed=3)
    rotated, rmask = apply_perturbation(image, mask, "rotate:3:1")
    noisy, nmask = apply_perturbation(image, mask, "noise:0.05:1")
    assert rotated.shape == image.shape and abs(int(rmask.sum()) - int(mask.sum())) < 20
    assert (nmask == mask).all()
    assert 0 < np.abs(noisy - image).mean() < 0.1 * image[mask].std()


def test_bad_recipe_names_the_step():
    image, mask = lesion_arrays(seed=4)
    with pytest.raises(PerturbationError, match="unknown perturbation 'blur'"):
        apply_perturbation(image, mask, "blur:1")
    with pytest.raises(PerturbationError, match="empty ROI"):
        apply_perturbation(image, mask, "erode:40")


def test_perturbation_icc_end_to_end(tmp_path):
    folder = tmp_path / "cases"
    tasks = [ExtractionTask(f"c{i}", *write_case(folder, f"c{i}", seed=20 + i, scale=0.5 + 0.2 * i))
             for i in range(6)]
    pseudo = perturbation_tasks(tasks)
    assert {t.reader for t in pseudo} == set(DEFAULT_PERTURBATIONS)
    result = run_extraction(tasks + pseudo, SMALL_PARAMS, workers=1, progress=False)
    tables = {r: result.for_reader(r) for r in ["reader1", *DEFAULT_PERTURBATIONS]}
    table = feature_icc_table(tables, kind="perturbation ICC")
    assert set(table["kind"]) == {"perturbation ICC"} and set(table["n_cases"]) == {6}
    table = table.set_index("feature")
    # lesion areas differ ~5x between cases: a 1-px contour change barely matters
    assert table.loc["original_shape2D_PixelSurface", "icc"] > 0.85
    finite = table.dropna(subset=["icc"])
    assert len(finite) > 0.9 * len(table)
    assert (finite["lower"] <= finite["icc"]).all() and (finite["icc"] <= finite["upper"]).all()
