"""The engine: failure isolation, content-addressed cache, process pool and Dask parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from _radiomics_data import SMALL_PARAMS, write_case
from sonomics.radiomics.cache import FeatureCache
from sonomics.radiomics.engine import run_extraction
from sonomics.radiomics.extract import ExtractionTask


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    return [ExtractionTask(f"c{i}", *write_case(folder, f"c{i}", seed=i)) for i in range(4)]


def test_failing_cases_are_recorded_and_the_batch_finishes(tmp_path, cases):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    full = tmp_path / "full.png"
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(full)
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(empty)
    bad = [
        ExtractionTask("corrupt", corrupt, cases[0].mask),
        ExtractionTask("all_ones", cases[0].image, full),
        ExtractionTask("empty", cases[0].image, empty),
        ExtractionTask("missing", tmp_path / "nope.png", cases[0].mask),
    ]
    result = run_extraction([cases[0], *bad, cases[1]], SMALL_PARAMS, cache_dir=tmp_path / "c",
                            workers=1, progress=False)
    assert list(result.features.index.get_level_values("case_id")) == ["c0", "c1"]
    reasons = result.failures.set_index("case_id")["reason"]
    assert set(reasons.index) == {"corrupt", "all_ones", "empty", "missing"}
    assert "unreadable" in reasons["corrupt"]
    assert "whole image" in reasons["all_ones"]
    assert "mask is empty" in reasons["empty"]
    assert "No such file" in reasons["missing"]
    assert all("\n" not in r for r in reasons)


def test_rerun_computes_nothing_and_a_setting_change_recomputes(tmp_path, cases):
    calls: list[str] = []
    first = run_extraction(cases, SMALL_PARAMS, cache_dir=tmp_path, workers=1, progress=False,
                           on_result=lambda t, r, e: calls.append(t.case_id))
    assert calls == [t.case_id for t in cases] and first.n_computed == len(cases)
    calls.clear()
    again = run_extraction(cases, SMALL_PARAMS, cache_dir=tmp_path, workers=1, progress=False,
                           on_result=lambda t, r, e: calls.append(t.case_id))
    assert calls == [] and again.n_cached == len(cases) and again.n_computed == 0
    pd.testing.assert_frame_equal(first.features, again.features)
    pd.testing.assert_frame_equal(first.diagnostics, again.diagnostics)

    changed = {**SMALL_PARAMS, "setting": {**SMALL_PARAMS["setting"], "binWidth": 10}}
    third = run_extraction(cases[:1], changed, cache_dir=tmp_path, workers=1, progress=False)
    assert third.n_computed == 1


def test_unreadable_cache_entry_is_recomputed(tmp_path, cases):
    run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1, progress=False)
    entry = next(tmp_path.glob("*/*.parquet"))
    entry.write_bytes(b"garbage")
    result = run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1,
                            progress=False)
    assert result.n_computed == 1 and len(FeatureCache(tmp_path)) == 1


def test_process_pool_and_dask_give_identical_features(tmp_path, cases):
    serial = run_extraction(cases, SMALL_PARAMS, workers=1, progress=False)
    pooled = run_extraction(cases, SMALL_PARAMS, workers=2, progress=True)
    pd.testing.assert_frame_equal(serial.features, pooled.features, check_exact=True)

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = run_extraction(cases, SMALL_PARAMS, scheduler=cluster.scheduler_address,
                                 cache_dir=tmp_path, progress=False)
    assert on_dask.n_computed == len(cases)
    pd.testing.assert_frame_equal(serial.features, on_dask.features, check_exact=True)


def test_duplicate_tasks_are_refused(cases):
    with pytest.raises(ValueError, match="case_id 'c0' reader 'reader1' appears twice"):
        run_extraction([cases[0], cases[0]], SMALL_PARAMS, workers=1, progress=False)


def test_temporaries_left_by_a_killed_writer_are_ignored_then_removed(tmp_path, cases):
    import os

    run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1, progress=False)
    entry = next(tmp_path.glob("*/*.parquet"))
    stale = entry.parent / f".{entry.name}.abc123.tmp"
    stale.write_bytes(b"half a parquet file")
    os.utime(stale, (0, 0))
    assert len(FeatureCache(tmp_path)) == 1
    again = run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1,
                           progress=False)
    assert again.n_cached == 1 and not stale.exists()


def test_a_tampered_or_truncated_cache_entry_fails_its_checksum_and_is_recomputed(tmp_path,
                                                                                  cases):
    import pyarrow as pa
    import pyarrow.parquet as pq

    first = run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1,
                           progress=False)
    entry = next(tmp_path.glob("*/*.parquet"))
    table = pq.read_table(entry)
    values = table.column("value").to_numpy(zero_copy_only=False).copy()
    values[0] *= 1000  # a readable file with one feature multiplied by 1,000
    pq.write_table(table.set_column(1, "value", pa.array(values)), entry)
    again = run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1,
                           progress=False)
    assert again.n_rejected == 1 and again.n_computed == 1
    pd.testing.assert_frame_equal(again.features, first.features, check_exact=True)
    pq.write_table(pq.read_table(entry).slice(0, 10), entry)  # cut to 10 rows
    cut = run_extraction(cases[:1], SMALL_PARAMS, cache_dir=tmp_path, workers=1,
                         progress=False)
    assert cut.n_rejected == 1 and not cut.features.isna().any().any()
