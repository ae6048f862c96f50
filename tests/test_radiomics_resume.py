"""A run killed with SIGKILL resumes, loses only the cases in flight, and leaves no corrupt cache.

The run is a real subprocess (with its forkserver and workers in its own session)
killed with SIGKILL after a few cases are reported stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from _radiomics_data import write_case
from sonomics.radiomics.cache import FeatureCache, task_key
from sonomics.radiomics.engine import run_extraction
from sonomics.radiomics.extract import ExtractionTask, extract_case
from sonomics.radiomics.params import extractor_version, load_params, params_digest

N_CASES = 12
KILL_AFTER = 3

SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask
    from sonomics.radiomics.params import load_params

    def report(task, result, error):
        print("STORED", task.case_id, flush=True)

    if __name__ == "__main__":
        folder, cache = Path(sys.argv[1]), Path(sys.argv[2])
        tasks = [ExtractionTask(f"c{i:02d}", folder / f"c{i:02d}.png",
                                folder / f"c{i:02d}_mask.png") for i in range(int(sys.argv[3]))]
        run_extraction(tasks, load_params(), cache_dir=cache, workers=2, progress=False,
                       on_result=report)
        print("FINISHED", flush=True)
""")


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(tmp_path):
    folder, cache_dir = tmp_path / "cases", tmp_path / "cache"
    for i in range(N_CASES):
        write_case(folder, f"c{i:02d}", seed=100 + i)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script), str(folder), str(cache_dir),
                             str(N_CASES)], stdout=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    stored: list[str] = []
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:
            if line.startswith("STORED"):
                stored.append(line.split()[1])
            if len(stored) >= KILL_AFTER or line.startswith("FINISHED"):
                break
            assert time.monotonic() < deadline, "extraction subprocess too slow"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run, its forkserver and its workers
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(stored) == KILL_AFTER, "the run finished before it could be killed"

    # every entry on disk is complete and readable; every reported case is among them
    entries = sorted(cache_dir.glob("*/*.parquet"))
    for entry in entries:
        frame = pd.read_parquet(entry)
        assert frame["name"].str.contains("_glcm_").any()
    params = load_params()
    digest, version = params_digest(params), extractor_version()
    cache = FeatureCache(cache_dir)
    tasks = [ExtractionTask(f"c{i:02d}", folder / f"c{i:02d}.png", folder / f"c{i:02d}_mask.png")
             for i in range(N_CASES)]
    keys = {t.case_id: task_key(t, digest, version, sigma_in_pixels=True) for t in tasks}
    assert all(keys[c] in cache for c in stored)
    n_saved = len(entries)
    assert n_saved < N_CASES

    # resume: only what is not in the cache is computed
    resumed = run_extraction(tasks, params, cache_dir=cache_dir, workers=2, progress=False)
    assert resumed.n_cached == n_saved
    assert resumed.n_computed == N_CASES - n_saved
    assert resumed.failures.empty and resumed.features.shape == (N_CASES, 1497)
    # a case stored before the kill equals a fresh extraction
    fresh = extract_case(tasks[0], params).features
    stored_row = resumed.for_reader("reader1").loc["c00"]
    assert all(stored_row[k] == v for k, v in fresh.items())


CRASH_SCRIPT = textwrap.dedent("""
    import os
    import sys
    from pathlib import Path
    from sonomics.radiomics import perturbation
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask
    sys.path.insert(0, sys.argv[3])
    from _radiomics_data import SMALL_PARAMS

    def crash(image, mask, args):
        os._exit(3)  # a hard worker death, as a segfault or the OOM killer would cause

    perturbation.PERTURBATIONS["crash"] = crash  # in __main__: the forkserver inherits it

    if __name__ == "__main__":
        folder = Path(sys.argv[1])
        tasks = [ExtractionTask(f"c{i}", folder / f"c{i}.png", folder / f"c{i}_mask.png")
                 for i in range(4)]
        tasks.insert(2, ExtractionTask("c1", folder / "c1.png", folder / "c1_mask.png",
                                       reader="boom", perturbation="crash"))
        result = run_extraction(tasks, SMALL_PARAMS, cache_dir=sys.argv[2], workers=2,
                                progress=False)
        print("FEATURES", sorted(result.features.index.get_level_values("case_id")))
        for row in result.failures.itertuples():
            print("FAILED", row.case_id, row.reader, row.stage)
""")


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_case_and_the_batch_finishes(tmp_path):
    folder = tmp_path / "cases"
    for i in range(4):
        write_case(folder, f"c{i}", seed=200 + i)
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, str(script), str(folder), str(tmp_path / "cache"),
                           str(Path(__file__).parent)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "FEATURES ['c0', 'c1', 'c2', 'c3']" in lines
    failed = [line for line in lines if line.startswith("FAILED")]
    assert failed == ["FAILED c1 boom worker"], done.stdout
