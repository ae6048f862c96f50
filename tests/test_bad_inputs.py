"""The bad-input corpus (issue 7 §4): generated hard cases, each with its exact behaviour.

Every case is generated in a temporary folder. The corpus is checked through each
layer that consumes it:

1. the readers (:mod:`sonomics.data.images`): what is read, or the one-line error;
2. the cohort (:func:`load_cohort` + :func:`validate_cohort`, and ``sonomics validate``):
   every problem names the case and the field, the good cases of the same batch
   have none, errors exclude exactly the broken cases;
3. the radiomics engine (:func:`run_extraction`): a broken case becomes one row of
   the failures table (case, stage, one-line reason), the rest of the batch is
   extracted, and no NaN reaches the features table;
4. selection, classifiers and metrics: degenerate training data fails with one
   line naming the model and what is wrong, never with a NaN in a table.

``docs/bad_inputs.md`` lists the same cases with their behaviour. The unseen
category at predict time is covered here only at the encoder level
(``sonomics predict`` is not written yet).
"""

from __future__ import annotations

import json
import resource
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _bad_inputs import (
    FILE_CASES,
    SHAPE,
    CorpusCase,
    Expect,
    dicom_without_pixels,
    exif_rotated_jpeg,
    good_files,
    huge_png,
    lesion_mask,
    mask_with_labels,
    nifti_slices,
    palette_png,
    rgba_transparent,
    sixteen_bit_png,
    truncated_png,
    write_mask,
    write_png,
    zero_byte,
)
from sonomics.config import StudyConfig
from sonomics.data.images import ImageReadError, read_image, read_mask
from sonomics.data.manifest import COHORT, load_cohort
from sonomics.data.validation import validate_cohort

# ================================================================ 1. image readers


def test_truncated_png_is_one_line_error(tmp_path):
    path = truncated_png(tmp_path / "t.png")
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert str(err.value) == f"unreadable or truncated image (image file is truncated): {path}"


def test_zero_byte_file_is_refused_before_decoding(tmp_path):
    path = zero_byte(tmp_path / "z.png")
    with pytest.raises(ImageReadError, match=r"^file is empty \(0 bytes\): "):
        read_image(path)


def test_jpeg_exif_rotation_is_applied(tmp_path):
    path, stored = exif_rotated_jpeg(tmp_path / "r.jpg")
    image = read_image(path).array
    assert stored.shape == (20, 40) and image.shape == (40, 20)  # displayed: rotated 90 CW
    assert image[:8].mean() > 240 and image[12:].mean() < 70  # white band now on top


def test_sixteen_bit_png_keeps_its_full_range(tmp_path):
    path, array = sixteen_bit_png(tmp_path / "s.png")
    image = read_image(path)
    assert image.array.dtype == np.float32
    np.testing.assert_array_equal(image.array, array.astype(np.float32))
    assert image.array.max() == 60_000


def test_rgba_transparent_background_reads_as_black(tmp_path):
    image = read_image(rgba_transparent(tmp_path / "a.png")).array
    assert image[20:40, 20:50] == pytest.approx(200.0, abs=1e-3)  # opaque grey 200
    outside = np.ones(SHAPE, bool)
    outside[20:40, 20:50] = False
    assert not image[outside].any()  # alpha 0 composited onto black


def test_palette_png_reads_as_its_grey_values(tmp_path):
    path, grey = palette_png(tmp_path / "p.png")
    np.testing.assert_allclose(read_image(path).array, grey.astype(np.float32), atol=1e-3)


def test_dicom_without_pixel_data(tmp_path):
    path = dicom_without_pixels(tmp_path / "n.dcm")
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert str(err.value) == f"DICOM has no pixel data: {path}"


def test_nifti_with_three_slices_is_refused(tmp_path):
    path = nifti_slices(tmp_path / "v.nii.gz", slices=3)
    with pytest.raises(ImageReadError) as err:
        read_image(path)
    assert str(err.value) == f"volume with 3 slices, expected one 2D slice: {path}"


def test_nifti_with_one_slice_reads_with_header_spacing(tmp_path):
    loaded = read_image(nifti_slices(tmp_path / "v.nii.gz", slices=1))
    assert loaded.shape == SHAPE and loaded.spacing_source == "header"
    assert loaded.spacing == pytest.approx((0.1, 0.1))


@pytest.mark.parametrize("reader", [read_image, read_mask])
def test_8000_square_image_is_refused_in_bounded_memory(tmp_path, reader):
    path = huge_png(tmp_path / "huge.png")
    assert path.stat().st_size < 200_000  # 64 Mpixel, tiny on disk
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ImageReadError) as err:
        warnings.simplefilter("always")
        reader(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert str(err.value) == ("image too large (8000x8000 = 64,000,000 pixels; limit "
                              f"40,000,000): {path}. Downsample it, or crop it to the scan area.")
    assert not caught, [str(w.message) for w in caught]  # no PIL decompression-bomb noise
    assert peak < 5 * 2**20  # a 64 Mpixel float32 decode would be 256 MB
    assert grown_mib < 50


def test_image_over_twice_the_limit_has_the_same_kind_of_error(tmp_path):
    path = huge_png(tmp_path / "huger.png", width=10_000, height=10_000)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ImageReadError) as err:
        warnings.simplefilter("always")
        read_image(path)
    assert str(err.value) == ("image too large (over 80,000,000 pixels; limit 40,000,000): "
                              f"{path}. Downsample it, or crop it to the scan area.")
    assert not caught


def test_mask_values_0_1_2_select_by_label(tmp_path):
    raw = mask_with_labels((1, 2))
    path = write_png(tmp_path / "m.png", raw)
    np.testing.assert_array_equal(read_mask(path), raw > 0)
    np.testing.assert_array_equal(read_mask(path, label=2), raw == 2)
    assert 0 < read_mask(path, label=1).sum() < read_mask(path).sum()


# ================================================================ 2. the cohort
GOOD = [f"good{i}" for i in range(6)]

#: table-level cases: (case id, manifest cell overrides, exact problems)
TABLE_CASES: list[tuple[str, dict[str, str], tuple[Expect, ...]]] = [
    ("label_whitespace", {"label": "Malignant "}, ()),
    ("label_upper", {"label": "  BENIGN\t"}, ()),
    ("label_unknown", {"label": "suspicious"},
     (Expect("label", "error",
             "label 'suspicious' is not one of ['0', '1', 'benign', 'malignant'] "
             "(set data.label_map)"),)),
    ("age_nan", {"age": "NaN"},
     (Expect("age", "warning", "missing value in continuous clinical variable "
                               "(imputed with the training median)"),)),
    ("age_not_available", {"age": "not available"},
     (Expect("age", "warning", "missing value in continuous clinical variable "
                               "(imputed with the training median)"),)),
    ("shape_not_available", {"shape": "Not Available"},
     (Expect("shape", "warning", "missing value in categorical clinical variable "
                                 "(kept as its own 'missing' level)"),)),
    ("age_text", {"age": "forty"},
     (Expect("age", "error", "non-numeric value 'forty' in continuous clinical variable"),)),
    ("age_inf", {"age": "inf"},
     (Expect("age", "error", "non-numeric value 'inf' in continuous clinical variable"),)),
]
DUPLICATE = "dup"


def _expected(case: CorpusCase, row: dict[str, str]) -> set[tuple[str, str, str]]:
    return {(e.field, e.severity, e.message.format(image=row["image"], mask=row["mask"]))
            for e in case.expected}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The whole corpus as one manifest, loaded and validated once.

    Returns (cohort, manifest path, {case id: expected problems}, {case id: row}).
    """
    root = tmp_path_factory.mktemp("corpus")
    rows, expected = [], {}
    for cid in GOOD:
        rows.append({"case_id": cid, **good_files(root, cid)})
        expected[cid] = set()
    for case in FILE_CASES:
        row = {"case_id": case.case_id, **case.build(root, case.case_id)}
        rows.append(row)
        expected[case.case_id] = _expected(case, row)
    for cid, _, problems in TABLE_CASES:
        rows.append({"case_id": cid, **good_files(root, cid)})
        expected[cid] = {(e.field, e.severity, e.message) for e in problems}
    for k in range(2):  # the same id twice, with different files
        rows.append({"case_id": DUPLICATE, **good_files(root, f"{DUPLICATE}{k}")})
    expected[DUPLICATE] = {("case_id", "error", "duplicate case id (2 rows)")}
    frame = pd.DataFrame(rows)
    frame["label"] = ["benign" if i % 2 else "malignant" for i in range(len(frame))]
    frame["age"] = [str(40 + i) for i in range(len(frame))]
    frame["shape"] = ["irregular" if i % 3 else "regular" for i in range(len(frame))]
    for cid, cells, _ in TABLE_CASES:
        for col, value in cells.items():
            frame.loc[frame["case_id"] == cid, col] = value
    manifest = root / "manifest.csv"
    frame.to_csv(manifest, index=False)
    cfg = StudyConfig.from_dict({"data": {"manifest": str(manifest), "continuous": ["age"],
                                          "categorical": ["shape"]},
                                 "out": str(root / "run")})
    cohort = load_cohort(cfg)
    validate_cohort(cohort)
    by_id = {r["case_id"]: r for r in rows}
    return cohort, manifest, expected, by_id


ALL_IDS = [*GOOD, *(c.case_id for c in FILE_CASES), *(c for c, _, _ in TABLE_CASES), DUPLICATE]


@pytest.mark.parametrize("case_id", ALL_IDS)
def test_each_case_gets_exactly_its_problems(corpus, case_id):
    cohort, _, expected, _ = corpus
    found = {(p.field, p.severity, p.message) for p in cohort.problems if p.case_id == case_id}
    assert found == expected[case_id]


def test_no_cohort_level_problem_and_every_message_is_one_line(corpus):
    cohort = corpus[0]
    assert [p for p in cohort.problems if p.case_id == COHORT] == []
    for p in cohort.problems:
        assert "\n" not in p.line() and p.case_id in p.line() and p.field in p.line()


def test_errors_exclude_exactly_the_broken_cases_and_keep_the_rest(corpus):
    cohort = corpus[0]
    broken = {c.case_id for c in FILE_CASES if c.excluded}
    broken |= {cid for cid, _, problems in TABLE_CASES if any(e.severity == "error"
                                                               for e in problems)}
    assert set(cohort.excluded_cases()) == broken | {DUPLICATE}
    usable = set(cohort.usable().index)
    assert usable == set(ALL_IDS) - broken - {DUPLICATE}
    assert len(cohort.usable()) == len(usable)  # both rows of the duplicate id are out


def test_label_whitespace_and_case_are_normalised(corpus):
    labels = corpus[0].table["label"]
    assert labels["label_whitespace"] == 1 and labels["label_upper"] == 0
    assert pd.isna(labels["label_unknown"])


def test_missing_clinical_markers_become_nan_and_text_is_not_a_number(corpus):
    table = corpus[0].table
    assert table.loc[["age_nan", "age_not_available", "age_text", "age_inf"], "age"].isna().all()
    assert table.loc["shape_not_available", "shape"] is None
    assert table.loc["good0", "age"] == 40.0


def test_non_ascii_path_resolves_and_reads(corpus):
    cohort, _, _, rows = corpus
    image = cohort.table.loc["non_ascii_path", "image"]
    assert "imágenes del estudio" in image and image == rows["non_ascii_path"]["image"]
    assert read_image(image).shape == SHAPE


def test_mask_label_setting_silences_the_multi_value_warning(tmp_path):
    rows = []
    for i, cid in enumerate(["a", "b", "c", "d"]):
        row = {"case_id": cid, **good_files(tmp_path, cid),
               "label": "benign" if i % 2 else "malignant"}
        write_mask(Path(row["mask"]), lesion_mask(), value=1)  # 0/1 masks
        rows.append(row)
    write_png(Path(rows[0]["mask"]), mask_with_labels((1, 2)))
    manifest = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    cohort = load_cohort(StudyConfig.from_dict({"data": {"manifest": str(manifest),
                                                         "mask_label": 1}}))
    validate_cohort(cohort)
    assert cohort.problems == []


def test_one_class_cohort_is_a_cohort_level_error(tmp_path):
    rows = [{"case_id": c, **good_files(tmp_path, c), "label": "benign"} for c in "abc"]
    manifest = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    cohort = load_cohort(StudyConfig.from_dict({"data": {"manifest": str(manifest)}}))
    assert [p.line() for p in cohort.errors] == [
        "error: case (cohort), field 'label': only one class in the cohort (benign); "
        "benign and malignant cases are both needed"]


def test_cli_validate_reports_the_corpus_as_json_and_table(corpus, tmp_path):
    from sonomics.cli import app

    cohort, manifest, _, _ = corpus
    config = tmp_path / "config.yaml"
    config.write_text(f"data:\n  manifest: '{manifest}'\n  continuous: [age]\n"
                      "  categorical: [shape]\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["validate", str(config), "--json", "--out", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["errors"] == len(cohort.errors) and report["warnings"] == len(cohort.warnings)
    assert report["problems"] == cohort.problems_frame().to_dict(orient="records")
    written = pd.read_csv(out / "tables" / "validation.csv", keep_default_na=False)
    assert len(written) == len(cohort.problems)
    assert not written.isin(["", "nan", "NaN"]).any().any()
    plain = CliRunner().invoke(app, ["validate", str(config)])
    assert plain.exit_code == 1
    excluded = len(cohort.excluded_cases())
    assert (f"{len(cohort.errors)} error(s) in {excluded} case(s), "
            f"{len(cohort.warnings)} warning(s)") in plain.stdout
    assert "Traceback" not in plain.output


# ================================================================ 3. radiomics engine
#: a fast parameter set: a filter, shape, first order and one texture class
PARAMS = {"setting": {"binWidth": 25, "label": 1, "force2D": False},
          "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}},
          "featureClass": {"shape2D": None, "firstorder": None, "glcm": None}}

#: (stage, reason) the engine must record for each broken file case
ENGINE_FAILURES = {
    "truncated_png": ("extract", "ImageReadError: unreadable or truncated image (image file is "
                                 "truncated): {image}"),
    "zero_byte": ("extract", "ImageReadError: file is empty (0 bytes): {image}"),
    "missing_file": ("read", "FileNotFoundError: [Errno 2] No such file or directory: "
                             "'{image}'"),
    "exif_jpeg_raw_mask": ("extract", "ExtractionError: case exif_jpeg_raw_mask: mask shape "
                                      "(20, 40) differs from image shape (40, 20)"),
    "dicom_no_pixels": ("extract", "ImageReadError: DICOM has no pixel data: {image}"),
    "nifti_3_slices": ("extract", "ImageReadError: volume with 3 slices, expected one 2D "
                                  "slice: {image}"),
    "huge_8000": ("extract", "ImageReadError: " + "image too large (8000x8000 = 64,000,000 "
                  "pixels; limit 40,000,000): {image}. Downsample it, or crop it to the scan "
                  "area."),
    "size_mismatch": ("extract", "ExtractionError: case size_mismatch: mask shape (60, 80) "
                                 "differs from image shape (64, 80)"),
    "empty_mask": ("extract", "ExtractionError: case empty_mask: mask is empty (no ROI pixel)"),
    "all_ones_mask": ("extract", "ExtractionError: case all_ones_mask: mask covers the whole "
                                 "image (no background); check the mask file"),
    "one_pixel_roi": ("extract", "ExtractionError: case one_pixel_roi: ROI has 1 pixels, fewer "
                                 "than min_roi_pixels=25"),
}


@pytest.fixture(scope="module")
def extraction(corpus, tmp_path_factory):
    """Every file case and the good cases, extracted in one batch (in-process, cached)."""
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask

    _, _, _, rows = corpus
    ids = [*GOOD, *(c.case_id for c in FILE_CASES)]
    tasks = [ExtractionTask(case_id=cid, image=Path(rows[cid]["image"]),
                            mask=Path(rows[cid]["mask"]), min_roi_pixels=25) for cid in ids]
    cache = tmp_path_factory.mktemp("cache")
    result = run_extraction(tasks, PARAMS, cache_dir=cache, workers=1, progress=False)
    return result, ids, rows


def test_engine_records_each_broken_case_with_stage_and_one_line_reason(extraction):
    result, _, rows = extraction
    failures = result.failures.set_index("case_id")
    assert set(failures.index) == set(ENGINE_FAILURES)
    for cid, (stage, reason) in ENGINE_FAILURES.items():
        assert failures.loc[cid, "stage"] == stage, cid
        assert failures.loc[cid, "reason"] == reason.format(image=rows[cid]["image"]), cid
        assert failures.loc[cid, "reader"] == "reader1"


def test_engine_extracts_the_rest_of_the_batch_without_nan(extraction):
    result, ids, _ = extraction
    done = list(result.for_reader("reader1").index)
    assert done == [c for c in ids if c not in ENGINE_FAILURES]  # batch order kept
    values = result.features.to_numpy()
    assert values.shape[1] > 50 and np.isfinite(values).all()


def test_engine_and_validation_exclude_the_same_file_cases(extraction):
    excluded_by_validation = {c.case_id for c in FILE_CASES if c.excluded}
    assert set(extraction[0].failures["case_id"]) == excluded_by_validation


def test_engine_reads_odd_formats_as_validation_does(extraction):
    result = extraction[0]
    roi = result.diagnostics.xs("reader1", level="reader")["diagnostics_sonomics_roi_pixels"]
    assert int(roi["two_rois"]) == int((lesion_mask(center=(20, 20), radius=7)
                                        | lesion_mask(center=(45, 60), radius=7)).sum())
    assert int(roi["labels_012"]) == int(lesion_mask().sum())  # every non-zero label is ROI
    assert int(roi["border_roi"]) == int(lesion_mask(center=(4, 40)).sum())
    first = result.features.xs("reader1", level="reader")
    assert first.loc["png16", "original_firstorder_Maximum"] > 255  # 16 bit kept
    assert first.loc["rgba", "original_firstorder_Minimum"] == 0  # transparent = black


def test_engine_failures_reach_the_failures_table_and_features_have_no_nan(extraction,
                                                                           tmp_path):
    from sonomics.radiomics.cohort import icc_from_result
    from sonomics.rundir import RunDir
    from sonomics.study.radiomics import write_extraction

    result = extraction[0]
    icc = icc_from_result(result, "none", StudyConfig())
    written = write_extraction(RunDir(tmp_path), result, icc)
    table = pd.read_csv(written["failures"])
    assert sorted(table["case_id"]) == sorted(ENGINE_FAILURES)
    assert table["reason"].str.contains("\n").sum() == 0
    features = pd.read_csv(written["features_csv"], index_col="case_id")
    assert not features.isna().any().any()
    assert set(features.index).isdisjoint(ENGINE_FAILURES)


def test_engine_rerun_keeps_the_failures_and_takes_successes_from_cache(extraction,
                                                                        tmp_path):
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask

    _, ids, rows = extraction
    tasks = [ExtractionTask(case_id=cid, image=Path(rows[cid]["image"]),
                            mask=Path(rows[cid]["mask"]), min_roi_pixels=25)
             for cid in ids[:3] + ["empty_mask"]]
    first = run_extraction(tasks, PARAMS, cache_dir=tmp_path, workers=1, progress=False)
    second = run_extraction(tasks, PARAMS, cache_dir=tmp_path, workers=1, progress=False)
    assert (first.n_computed, second.n_cached, second.n_computed) == (4, 3, 1)
    assert list(second.failures["case_id"]) == ["empty_mask"]


def test_engine_refuses_duplicate_case_ids_before_running(corpus):
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask

    rows = corpus[3]
    task = ExtractionTask(case_id="dup", image=Path(rows["good0"]["image"]),
                          mask=Path(rows["good0"]["mask"]))
    with pytest.raises(ValueError) as err:
        run_extraction([task, task], PARAMS, workers=1, progress=False)
    assert str(err.value) == "duplicate task: case_id 'dup' reader 'reader1' appears twice"


def test_engine_one_pixel_roi_below_pyradiomics_minimum_is_a_failure_not_nan(corpus, tmp_path):
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask

    rows = corpus[3]
    task = ExtractionTask(case_id="one_pixel_roi", image=Path(rows["one_pixel_roi"]["image"]),
                          mask=Path(rows["one_pixel_roi"]["mask"]), min_roi_pixels=1)
    result = run_extraction([task], PARAMS, workers=1, progress=False)
    assert result.features.empty
    assert list(result.failures["reason"]) == [
        "ValueError: mask only contains 1 segmented voxel! Cannot extract features for a "
        "single voxel."]


def test_engine_never_puts_nan_in_the_features_table(tmp_path):
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask

    files = good_files(tmp_path, "diagonal")
    diagonal = np.zeros(SHAPE, bool)
    diagonal[20, 20] = diagonal[21, 21] = True  # two pixels touching at a corner
    write_mask(Path(files["mask"]), diagonal)
    task = ExtractionTask(case_id="diagonal", image=Path(files["image"]),
                          mask=Path(files["mask"]), min_roi_pixels=1)
    result = run_extraction([task], PARAMS, workers=1, progress=False)
    assert np.isfinite(result.features.to_numpy()).all()
    assert list(result.failures["case_id"]) == ["diagonal"]


# ======================================================= 4. selection, classifiers, metrics
def _features(n_benign: int, n_malignant: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_benign, int), np.ones(n_malignant, int)]
    X = pd.DataFrame(rng.normal(size=(y.size, 4)), columns=["f0", "f1", "f2", "f3"],
                     index=[f"C{i:02d}" for i in range(y.size)])
    X["f0"] += 1.5 * y
    return X, y


LR = {"LR": {"C": [1.0]}}


def _numeric_cells_finite(table: pd.DataFrame) -> bool:
    return bool(np.isfinite(table.select_dtypes("number").to_numpy()).all())


@pytest.mark.parametrize("label", [0, 1])
def test_one_class_in_training_names_the_family(label):
    from sonomics.models.family import fit_family

    X, _ = _features(6, 6)
    name = "benign" if label == 0 else "malignant"
    with pytest.raises(ValueError) as err:
        fit_family(X, np.full(12, label), family="Radiomics", classifiers=["LR"], grids=LR)
    assert str(err.value) == (f"Radiomics training set: one class only (12 {name} cases); "
                              "benign and malignant cases are both needed")


def test_one_class_in_training_for_selectors_and_a_single_classifier():
    from sonomics.models.classifiers import fit_classifier
    from sonomics.selection import LassoSelector, TTestSelector

    X, _ = _features(6, 6)
    y = np.zeros(12, int)
    with pytest.raises(ValueError, match="^univariate test: y has one class only; need both"):
        TTestSelector().fit(X, y)
    with pytest.raises(ValueError, match="^LassoSelector: y has one class only; need both"):
        LassoSelector().fit(X, y)
    with pytest.raises(ValueError, match=r"^SVM: one class only \(12 benign cases\)"):
        fit_classifier("SVM", X, y)


def test_fewer_cases_than_folds_reduces_the_folds_once_with_a_warning():
    from sonomics.models.classifiers import FoldsReducedWarning
    from sonomics.models.family import fit_family

    X, y = _features(3, 3)
    with pytest.warns(FoldsReducedWarning) as caught:
        result = fit_family(X, y, X, y, classifiers=["LR", "SVM"],
                            grids={**LR, "SVM": {"estimator__C": [1.0]}})
    folds = [w for w in caught if issubclass(w.category, FoldsReducedWarning)]
    assert [str(w.message) for w in folds] == [
        "cv_folds: 5-fold cross-validation reduced to 3 folds: the smallest class has only 3 "
        "training cases"]
    assert result.failures == {}  # SVM's inner calibration CV shrank to fit
    assert list(result.table["Model"]) == ["LR-training (apparent)", "LR-testing",
                                           "SVM-training (apparent)", "SVM-testing"]
    assert _numeric_cells_finite(result.table)


def test_a_class_smaller_than_two_cases_cannot_be_cross_validated():
    from sonomics.models.family import fit_family

    X, y = _features(5, 1)
    with pytest.raises(ValueError) as err:
        fit_family(X, y, classifiers=["LR"], grids=LR)
    assert str(err.value) == ("Model training set: need at least 2 cases of each class for "
                              "cross-validation, the smallest class has 1")


@pytest.mark.filterwarnings("ignore::sonomics.models.classifiers.FoldsReducedWarning")
def test_selection_inside_folds_needs_three_cases_per_class():
    from sonomics.models.family import fit_family
    from sonomics.selection import build_selection_pipeline

    X, y = _features(2, 2)
    with pytest.raises(ValueError) as err:
        fit_family(X, y, selection=build_selection_pipeline(), classifiers=["LR"], grids=LR)
    assert str(err.value) == ("Model training set: the smallest class has 2 cases; feature "
                              "selection inside the CV folds needs at least 3 of each class")


def test_constant_feature_columns_are_never_selected_and_tables_stay_finite():
    from sonomics.models.family import fit_family
    from sonomics.selection import build_selection_pipeline

    X, y = _features(15, 15)
    X["const_one"], X["const_zero"] = 1.0, 0.0
    selection = build_selection_pipeline()
    selected = set(selection.fit(X, y).get_feature_names_out())
    assert selected and selected.isdisjoint({"const_one", "const_zero"})
    result = fit_family(X, y, X, y, classifiers=["LR"], grids=LR)  # no selection: kept as-is
    assert _numeric_cells_finite(result.table)


def test_only_constant_features_fail_every_classifier_with_one_line():
    from sonomics.models.family import ClassifierFailedWarning, fit_family

    X, y = _features(6, 6)
    X = X.assign(f0=1.0, f1=1.0, f2=1.0, f3=1.0)
    with pytest.warns(ClassifierFailedWarning), pytest.raises(ValueError) as err:
        fit_family(X, y, family="Deep", classifiers=["LR"], grids=LR)
    assert str(err.value) == ("Deep: every classifier failed: LR: LR-training: scores are "
                              "constant, the ROC curve is undefined")


@pytest.mark.parametrize(("value", "kind"), [(np.inf, "infinite"), (-np.inf, "infinite"),
                                             (np.nan, "NaN")])
def test_non_finite_features_name_the_feature_and_the_case(value, kind):
    from sonomics.models.family import fit_family

    X, y = _features(6, 6)
    X.loc["C03", "f2"] = value
    with pytest.raises(ValueError) as err:
        fit_family(X, y, family="Radiomics", classifiers=["XGBoost"],
                   grids={"XGBoost": {"max_depth": [2]}})
    assert str(err.value) == (f"Radiomics training set: feature(s) 'f2' hold {kind} values in "
                              "case(s) 'C03'; drop those features or exclude those cases "
                              "before fitting")


def test_non_finite_test_features_are_refused_too():
    from sonomics.models.family import fit_family

    X, y = _features(6, 6)
    X_test = X.copy()
    X_test.loc[["C01", "C07"], ["f1", "f3"]] = np.inf
    with pytest.raises(ValueError, match=r"^Model test set: feature\(s\) 'f1', 'f3' hold "
                                         r"infinite values in case\(s\) 'C01', 'C07';"):
        fit_family(X, y, X_test, y, classifiers=["LR"], grids=LR)


@pytest.mark.filterwarnings("ignore::sonomics.models.classifiers.FoldsReducedWarning")
def test_a_degenerate_classifier_is_left_out_and_the_family_goes_on():
    from sonomics.models.family import ClassifierFailedWarning, fit_family

    X, y = _features(3, 3)  # boosted trees (min leaf sizes) predict one constant here
    with pytest.warns(ClassifierFailedWarning) as caught:
        result = fit_family(X, y, X, y, family="Clinical", classifiers=["LR", "LightGBM"],
                            grids={**LR, "LightGBM": {"num_leaves": [7]}})
    assert result.failures == {
        "LightGBM": "LightGBM-training: scores are constant, the ROC curve is undefined"}
    assert any(str(w.message) == "Clinical: classifier LightGBM failed and is left out: "
               "LightGBM-training: scores are constant, the ROC curve is undefined"
               for w in caught)
    assert list(result.models) == ["LR"] and result.best == "LR"
    assert list(result.table["Model"]) == ["LR-training (apparent)", "LR-testing"]
    assert _numeric_cells_finite(result.table)
    assert result.failures_table.to_dict(orient="records") == [
        {"family": "Clinical", "classifier": "LightGBM",
         "reason": "LightGBM-training: scores are constant, the ROC curve is undefined"}]


@pytest.mark.parametrize(("scores", "message"), [
    (np.r_[np.nan, np.linspace(0, 1, 9)], "XGBoost-training: scores contain NaN or infinite "
                                          "values"),
    (np.full(10, 0.3), "XGBoost-training: scores are constant, the ROC curve is undefined"),
])
def test_metrics_name_the_model_row_instead_of_printing_nan(scores, message):
    from sonomics.evaluation.metrics import DegenerateInputError, performance_rows

    y = np.r_[np.zeros(5, int), np.ones(5, int)]
    with pytest.raises(DegenerateInputError) as err:
        performance_rows("XGBoost", y, scores)
    assert str(err.value) == message


def test_metrics_refuse_a_one_class_test_set():
    from sonomics.evaluation.metrics import DegenerateInputError, performance_rows

    y = np.r_[np.zeros(5, int), np.ones(5, int)]
    with pytest.raises(DegenerateInputError) as err:
        performance_rows("LR", y, np.linspace(0, 1, 10), np.ones(4, int), np.full(4, 0.5))
    assert str(err.value) == ("LR-testing: need at least 2 case(s) of each class, got 4 "
                              "malignant and 0 benign")


def test_unseen_category_is_refused_by_the_clinical_encoder():
    """Predict-time stand-in: ``sonomics predict`` is not written yet (see docs/bad_inputs.md)."""
    from sonomics.models.clinical import ClinicalEncoder

    train = pd.DataFrame({"age": [40.0, 50.0, 60.0], "echo": ["hypo", "iso", "hypo"]})
    encoder = ClinicalEncoder(continuous=["age"], categorical=["echo"]).fit(train)
    with pytest.raises(ValueError) as err:
        encoder.transform(pd.DataFrame({"age": [55.0], "echo": ["cystic"]}))
    assert str(err.value) == ("clinical data: column 'echo' has unseen level(s) ['cystic'] "
                              "(training levels: ['hypo', 'iso'])")
