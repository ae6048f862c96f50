"""Cells from users (case ids, categories) that a spreadsheet would run as formulas are
neutralised in every CSV sonomics writes, and read back unchanged by sonomics itself."""

from __future__ import annotations

import pandas as pd

from sonomics.data.splits import write_split
from sonomics.io import csv_text, write_table
from sonomics.rundir import RunDir

HOSTILE = ["+cmd|' /C calc'!A0", "=HYPERLINK(\"http://x\")", "@SUM(A1)", "-2+3+cmd|' /C x'"]


def test_formula_cells_are_prefixed_and_numbers_are_not():
    frame = pd.DataFrame({"id": HOSTILE + ["plain"], "z": ["-1.25", "0.5", "+3", "-0", "x"],
                          "auc": [0.5, 0.6, 0.7, 0.8, 0.9]})
    text = csv_text(frame, index=False)
    for cell in HOSTILE:
        assert "'" + cell.replace('"', '""') in text
    assert "\n-1.25" not in text and ",-1.25," in text and ",+3," in text  # numbers stay


def test_tables_predictions_and_split_are_safe_and_round_trip(tmp_path):
    run = RunDir(tmp_path)
    frame = pd.DataFrame({"split": ["train", "test", "train", "test"], "label": [0, 1, 1, 0],
                          "prob": [0.1, 0.9, 0.7, 0.2]}, index=pd.Index(HOSTILE))
    run.save_predictions("clinical", frame)
    raw = run.predictions_path("clinical").read_text()
    assert all(line.lstrip('"').startswith("'") or line.startswith("case_id")
               for line in raw.splitlines())  # a cell with a quote is itself quoted
    back = run.predictions("clinical")
    assert list(back.index) == HOSTILE
    write_table(pd.DataFrame({"Variable": ["=1+1"]}), tmp_path / "tables", "t")
    assert "'=1+1" in (tmp_path / "tables" / "t.csv").read_text()
    table = pd.DataFrame({"patient_id": HOSTILE, "label": [0, 1, 1, 0]},
                         index=pd.Index(HOSTILE, name="case_id"))
    write_split(table, frame["split"], run.split_csv)
    assert "\n+cmd" not in run.split_csv.read_text()
    assert list(run.split().index) == HOSTILE


def test_outputs_get_the_users_umask_not_0600(tmp_path):
    import os
    import stat

    from sonomics.io import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "report.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_case_ids_that_slug_alike_get_different_file_names():
    from sonomics.predict import case_file_stem

    assert case_file_stem("a/b") != case_file_stem("a_b")
    assert case_file_stem("a/b").startswith("a_b-") and case_file_stem("x") == case_file_stem("x")
