"""`sonomics demo` / `run`: the cohort is generated, validated, split and tabulated."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from sonomics.cli import app


def test_help_teaches():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "validate", "datasets", "run", "demo"):
        assert command in result.output


def test_small_demo_writes_tables_and_is_resumable(tmp_path: Path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--n-benign", "30", "--n-malignant", "14"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    split = pd.read_csv(out / "split.csv")
    assert len(split) == 44 and set(split["split"]) == {"train", "test"}
    for name in ("table1_distribution", "table2_train_test", "table2_benign_malignant",
                 "validation", "split_summary"):
        assert (out / "tables" / f"{name}.csv").exists(), name
        assert "SYNTHETIC" in (out / "tables" / f"{name}.md").read_text()
    t2 = pd.read_csv(out / "tables" / "table2_train_test.csv")
    assert "Training set (n=30)" in t2.columns
    stamp = (out / "split.csv").stat().st_mtime_ns
    second = CliRunner().invoke(app, ["run", str(out / "demo-config.yaml")])
    assert second.exit_code == 0, second.output
    assert "unchanged, skipped" in second.output
    assert (out / "split.csv").stat().st_mtime_ns == stamp


def test_run_reports_a_broken_cohort_in_one_line(tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("case_id,image,mask,label\nA,a.png,a_m.png,benign\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  manifest: {manifest}\nout: {tmp_path / 'run'}\n")
    result = CliRunner().invoke(app, ["run", str(cfg)])
    assert result.exit_code != 0
    assert "only one class" in " ".join(result.output.split())
