"""A study killed with SIGKILL during CNN training, then during the report, resumes exactly.

Each kill is a real ``SIGKILL`` of a real ``sonomics`` run in a subprocess, delivered at a
deterministic point by a wrapper that patches one writer: right after the CNN's epoch-2
checkpoint is on disk (training is mid-way: 4 epochs), and half-way through writing
``report.html`` (the page is half in its temporary file). The reruns must recompute no
stage that had finished, resume the CNN from its last finished epoch, leave no
half-written file behind, and end with tables and predictions identical to an
uninterrupted run of the same config (to float32 rounding).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from _study_data import tiny_config
from sonomics.study import Study

DEEP = {"epochs": 4, "early_stopping": 4}

RUNNER = textwrap.dedent("""
    import os, signal, sys
    from sonomics.config import StudyConfig
    from sonomics.study import Study

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if __name__ == "__main__":
        where = sys.argv[2]
        if where == "cnn":
            import sonomics.deep.train as train
            real_write_state = train.write_state

            def write_state_then_die(state, path):
                real_write_state(state, path)
                if int(state["epoch"]) == 2:
                    die()
            train.write_state = write_state_then_die
        elif where == "report":
            import sonomics.report.html as report_html
            from sonomics.io import atomic_path

            def write_half_then_die(path, text):
                with atomic_path(path) as tmp:
                    tmp.write_text(text[: len(text) // 2])
                    die()
            report_html.atomic_write_text = write_half_then_die
        Study(StudyConfig.load(sys.argv[1])).run()
        print("FINISHED", flush=True)
""")


def _run(config: Path, kill_at: str, tmp_path: Path) -> int:
    """Run the study in a fresh process, killed at ``kill_at`` ("cnn", "report", or none)."""
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(script), str(config), kill_at], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, -signal.SIGKILL):
        print(proc.stderr[-3000:])
    return proc.returncode


def _markers(run: Path) -> dict[str, int]:
    return {p.stem: p.stat().st_mtime_ns for p in (run / "cache" / "stages").glob("*.json")}


def _results(run: Path) -> dict[str, pd.DataFrame]:
    frames = {f"predictions/{p.name}": pd.read_csv(p) for p in (run / "predictions").glob("*")}
    for p in (run / "tables").glob("*.csv"):
        frames[f"tables/{p.name}"] = pd.read_csv(p)
    return frames


@pytest.mark.slow
def test_sigkill_during_cnn_training_and_report_then_resume(tmp_path):
    # the reference runs in a fresh process too: a pytest process that ran other tests
    # before may carry other torch thread settings, which moves float32 sums by ~1e-7
    reference = tiny_config(tmp_path / "ref", deep=DEEP)
    ref_config = tmp_path / "ref.yaml"
    ref_config.write_text(reference.to_yaml())
    assert _run(ref_config, "none", tmp_path) == 0

    cfg = tiny_config(tmp_path / "killed", deep=DEEP)
    config = tmp_path / "killed.yaml"
    config.write_text(cfg.to_yaml())
    run = cfg.out

    # 1. killed during CNN training, after the epoch-2 checkpoint
    assert _run(config, "cnn", tmp_path) == -signal.SIGKILL
    done_before = _markers(run)
    assert "radiomics" in done_before and "deep" not in done_before
    last_state = run / "cache" / "deep" / "resnet18" / "last_state.pt"
    assert last_state.is_file()

    # 2. rerun resumes the CNN at epoch 2 and is killed half-way through report.html
    assert _run(config, "report", tmp_path) == -signal.SIGKILL
    after_second = _markers(run)
    for stage, stamp in done_before.items():
        if stage != "validate":  # validation is cheap and always redone
            assert after_second[stage] == stamp, f"{stage} was recomputed"
    summary = json.loads((run / "deep" / "deep_summary.json").read_text())
    assert summary["resumed_from_epoch"] == {"resnet18": 2}
    assert "evaluation" in after_second and "report" not in after_second
    assert list(run.rglob(".report.html.*.tmp"))  # the kill left a half-written temporary
    assert not (run / "report.html").exists()  # ... and never a half-written report

    # 3. the last rerun redoes only what had not finished, and ends where the reference is
    again = Study(cfg)
    again.run()
    assert set(again.ran) == {"validate", "report", "bundle"}
    assert not list(run.rglob(".*.tmp"))
    assert (run / "report.html").read_text().rstrip().endswith("</html>")
    want, got = _results(reference.out), _results(run)
    assert set(got) == set(want)
    for name, frame in want.items():
        if name == "tables/validation.csv":
            continue  # holds the absolute image paths, which differ between the two runs
        # equal to float32 rounding: CPU BLAS may sum in another order under load
        pd.testing.assert_frame_equal(got[name], frame, obj=name, check_exact=False,
                                      rtol=1e-5, atol=1e-6)
