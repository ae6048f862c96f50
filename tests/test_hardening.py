"""Careless and hostile inputs end in a clear per-case message, never a traceback."""

from __future__ import annotations

import os

import pandas as pd

from _bad_inputs import good_files
from sonomics.config import StudyConfig
from sonomics.data.manifest import load_cohort
from sonomics.data.validation import validate_cohort


def _cohort(tmp_path, rows):
    manifest = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return load_cohort(StudyConfig.from_dict({"data": {"manifest": str(manifest)}}))


def test_ids_equal_but_for_spaces_are_duplicates_and_ids_equal_but_for_case_warn(tmp_path):
    rows = [{"case_id": cid, **good_files(tmp_path, f"f{i}"), "label": lab}
            for i, (cid, lab) in enumerate([("A1", "benign"), (" A1 ", "malignant"),
                                            ("b1", "benign"), ("B1", "malignant")])]
    cohort = _cohort(tmp_path, rows)
    assert [(p.case_id, p.severity) for p in cohort.problems if "duplicate" in p.message] == [
        ("A1", "error")]
    case_warnings = {p.case_id for p in cohort.warnings if "upper/lower case" in p.message}
    assert case_warnings == {"b1", "B1"}
    assert {"b1", "B1"} <= set(cohort.usable().index)


def test_a_symlink_loop_is_an_error_of_that_case_only(tmp_path):
    loop = tmp_path / "loop.png"
    os.symlink(loop, loop)  # points at itself
    rows = [{"case_id": f"c{i}", **good_files(tmp_path, f"c{i}"),
             "label": "benign" if i % 2 else "malignant"} for i in range(4)]
    rows[0]["image"] = str(loop)
    cohort = _cohort(tmp_path, rows)  # parsing the manifest does not raise
    validate_cohort(cohort)
    assert [p.case_id for p in cohort.errors] == ["c0"]
    assert set(cohort.usable().index) == {"c1", "c2", "c3"}


def test_a_grey_image_stored_as_rgb_or_palette_reads_its_grey_values_exactly(tmp_path):
    import numpy as np
    from PIL import Image

    from sonomics.data.images import read_image

    grey = np.random.default_rng(0).integers(0, 256, (64, 80), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "l.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "rgb.png")
    Image.fromarray(grey).convert("P").save(tmp_path / "p.png")
    want = read_image(tmp_path / "l.png").array
    for name in ("rgb.png", "p.png"):
        np.testing.assert_array_equal(read_image(tmp_path / name).array, want, err_msg=name)
    colour = np.stack([grey, grey // 2, 255 - grey], axis=-1)
    Image.fromarray(colour).save(tmp_path / "c.png")
    expected = (grey * 0.299 + (grey // 2) * 0.587 + (255 - grey) * 0.114).astype(np.float32)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png").array, expected)


def _death_signal() -> int:
    import ctypes

    value = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)  # PR_GET_PDEATHSIG
    return value.value


def test_pool_workers_started_like_the_extraction_pool_get_a_parent_death_signal():
    import multiprocessing as mp
    import signal
    import sys
    from concurrent.futures import ProcessPoolExecutor

    import pytest

    from sonomics.system import die_with_parent

    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signals are Linux-only")
    with ProcessPoolExecutor(1, mp_context=mp.get_context("forkserver"),
                             initializer=die_with_parent) as pool:
        assert pool.submit(_death_signal).result() == signal.SIGKILL


def test_the_cnn_stage_time_is_estimated_from_timed_steps():
    from sonomics.deep.estimate import stage_estimate

    seconds, how = stage_estimate(["resnet18"], n_train=40, input_size=32, batch_size=8,
                                  epochs=3, extra_models=2)
    assert seconds > 0 and how.startswith("3 CNN(s) x 3 epochs x 5 steps (resnet18 ")


def test_a_constant_birads_column_makes_the_comparator_absent_not_the_run_fail(small_cohort):
    import pytest
    from rich.console import Console

    from sonomics.pipeline import StageSkipped
    from sonomics.rundir import RunDir
    from sonomics.study.cohort import split
    from sonomics.study.comparators import comparators
    from sonomics.study.context import StudyContext

    frame = small_cohort.frame.assign(birads="3")  # the radiologist said 3 for everyone
    manifest = small_cohort.build(frame)
    cfg = StudyConfig.from_dict({"data": {"manifest": str(manifest)},
                                 "comparators": {"shape_only": False},
                                 "out": str(manifest.parent / "run")})
    ctx = StudyContext(cfg, RunDir(cfg.out), Console(quiet=True))
    split(ctx)
    with pytest.raises(StageSkipped, match="one category only"):
        comparators(ctx)


def _validate_into(small_cohort, tmp_path, out):
    from typer.testing import CliRunner

    from sonomics.cli import app

    manifest = small_cohort.build()
    config = tmp_path / "config.yaml"
    config.write_text(f"data:\n  manifest: '{manifest}'\n  continuous: [age]\n"
                      "  categorical: [shape]\n", encoding="utf-8")
    return CliRunner().invoke(app, ["validate", str(config), "--out", str(out)])


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_a_full_disk_is_one_line_naming_the_file(small_cohort, tmp_path, monkeypatch):
    import errno

    import sonomics.io

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sonomics.io.os, "replace", no_space)
    line = _one_error_line(_validate_into(small_cohort, tmp_path, tmp_path / "out"))
    assert "No space left on device" in line
    assert str(tmp_path / "out" / "tables" / "validation.csv") in line
    assert not list((tmp_path / "out" / "tables").glob(".*.tmp"))  # nothing half-written


def test_a_read_only_output_folder_is_one_line_naming_it(small_cohort, tmp_path,
                                                         monkeypatch):
    import errno
    import tempfile

    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    if os.geteuid() != 0:  # a real read-only folder (root writes into one regardless)
        (out / "tables").chmod(0o555)
    else:  # the error a read-only mount gives
        def read_only(*_args, dir=None, **_kwargs):  # noqa: A002 - mkstemp's own name
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), dir)

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
    try:
        line = _one_error_line(_validate_into(small_cohort, tmp_path, out))
    finally:
        (out / "tables").chmod(0o755)
    assert ("Permission denied" in line) or ("Read-only file system" in line), line
    assert str(out / "tables" / "validation.csv") in line


def test_an_error_message_is_prefixed_once():
    from sonomics.errors import err_console, fail

    for message in ("Error: error: case (cohort), field 'label': bad", "error: x", "x"):
        with err_console.capture() as captured:
            fail(message)
        line = captured.get().strip()
        assert line.startswith("error: ") and "error: error" not in line.lower(), line
        assert not line.startswith("Error"), line
