"""The extraction engine: many cases in parallel, cached, resumable, failures isolated.

:func:`run_extraction` takes a plain list of
:class:`~sonomics.radiomics.extract.ExtractionTask` (no cohort object needed) and

1. hashes each task's files into a content address and takes what the cache
   already holds (a rerun computes nothing already done);
2. runs the rest in worker processes (default: all cores), or on a Dask
   distributed cluster when a scheduler address is given, or in-process with
   ``workers=1``;
3. stores each result in the cache the moment it arrives (atomic write), so a
   run killed with SIGKILL loses only the cases in flight;
4. records a failing case (unreadable file, empty or whole-image mask, ROI too
   small for a filter, ...) with its reason and goes on;
5. shows one progress bar with rate and ETA.

Worker processes are started with the ``forkserver`` method (safe beside the
progress thread); like every multiprocessing user, a script that calls this
must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sonomics.radiomics.cache import FeatureCache, task_key
from sonomics.radiomics.extract import CaseResult, ExtractionTask, extract_case
from sonomics.radiomics.params import extractor_version, params_digest
from sonomics.system import available_cores, die_with_parent

INDEX = ["case_id", "reader"]
FAILURE_COLUMNS = ["case_id", "reader", "stage", "reason"]


@dataclass
class ExtractionResult:
    """Everything one extraction run produced.

    Attributes:
        features: one row per (case_id, reader), pyradiomics feature names as columns.
        diagnostics: same index, ``diagnostics_*`` provenance as text.
        failures: case_id, reader, stage, reason of every excluded task.
        n_cached: tasks taken from the cache.
        n_computed: tasks extracted in this run (successes and failures).
        n_rejected: cache entries whose content failed their checksum (recomputed).
    """

    features: pd.DataFrame
    diagnostics: pd.DataFrame
    failures: pd.DataFrame
    n_cached: int = 0
    n_computed: int = 0
    n_rejected: int = 0

    def for_reader(self, reader: str = "reader1") -> pd.DataFrame:
        """Features of one reader, indexed by case_id."""
        if self.features.empty:
            return pd.DataFrame()
        rows = self.features.xs(reader, level="reader", drop_level=True)
        return rows


@dataclass
class _Outcome:
    task: ExtractionTask
    result: CaseResult | None
    error: str | None
    stage: str = "extract"


def _extract_task(task: ExtractionTask, params: dict[str, Any], sigma_in_pixels: bool,
                  single_thread: bool = False) -> tuple[CaseResult | None, str | None]:
    """Worker entry point: never raises, returns (result, None) or (None, one-line reason).

    ``single_thread`` limits SimpleITK's filters to one thread: with one process per
    core, ITK's own threads would only oversubscribe the cores.
    """
    if single_thread:
        _limit_threads()
    try:
        return extract_case(task, params, sigma_in_pixels=sigma_in_pixels), None
    except Exception as exc:  # noqa: BLE001 - per-case isolation is the point
        return None, _one_line(exc)


def _limit_threads() -> None:
    import SimpleITK as sitk

    if sitk.ProcessObject_GetGlobalDefaultNumberOfThreads() != 1:
        sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:500]


def run_extraction(
    tasks: Sequence[ExtractionTask],
    params: dict[str, Any],
    *,
    cache_dir: str | Path | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    sigma_in_pixels: bool = True,
    progress: bool = True,
    on_result: Callable[[ExtractionTask, CaseResult | None, str | None], None] | None = None,
) -> ExtractionResult:
    """Extract features of every task; see the module docstring for the guarantees.

    Args:
        tasks: cases to extract; (case_id, reader) must be unique.
        params: resolved pyradiomics parameters (:func:`sonomics.radiomics.params.load_params`).
        cache_dir: content-addressed cache folder; None = no cache.
        workers: processes (0 = all cores, 1 = in this process). Ignored with ``scheduler``.
        scheduler: Dask scheduler address (``tcp://HOST:PORT``) to run tasks on a cluster.
        sigma_in_pixels: filters see unit spacing (see :mod:`sonomics.radiomics.extract`).
        progress: show the progress bar.
        on_result: called in this process after each computed task is stored
            (task, result or None, error or None); a hook for logs and tests.
    """
    from sonomics.progress import progress_callback  # rich stays out of worker processes

    _check_unique(tasks)
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.remove_stale_temporaries()
    params_hash, version = params_digest(params), extractor_version()
    results: dict[tuple[str, str], CaseResult] = {}
    failures: list[dict[str, str]] = []
    keys: dict[tuple[str, str], str] = {}
    pending: list[ExtractionTask] = []
    file_hashes: dict[Path, str] = {}
    for task in tasks:
        ident = (task.case_id, task.reader)
        if cache is None:
            pending.append(task)
            continue
        try:
            keys[ident] = task_key(task, params_hash, version, sigma_in_pixels=sigma_in_pixels,
                                   file_hashes=file_hashes)
        except OSError as exc:
            failures.append(_failure(task, "read", _one_line(exc)))
            continue
        hit = cache.get(keys[ident])
        if hit is not None:
            results[ident] = hit
        else:
            pending.append(task)
    n_cached = len(results)

    with progress_callback("radiomics", len(tasks), done=n_cached + len(failures),
                           enabled=progress, rate_unit="cases") as advance:
        if scheduler:
            outcomes = _run_dask(pending, params, sigma_in_pixels, scheduler)
        elif (workers or available_cores()) <= 1 or len(pending) <= 1:
            outcomes = _run_serial(pending, params, sigma_in_pixels)
        else:
            outcomes = _run_pool(pending, params, sigma_in_pixels,
                                 min(workers or available_cores(), len(pending)))
        for outcome in outcomes:
            ident = (outcome.task.case_id, outcome.task.reader)
            if outcome.result is not None:
                if cache is not None:
                    cache.put(keys[ident], outcome.result)
                results[ident] = outcome.result
            else:
                failures.append(_failure(outcome.task, outcome.stage, outcome.error or ""))
            if on_result is not None:
                on_result(outcome.task, outcome.result, outcome.error)
            advance()

    extraction = _assemble(tasks, results, failures, n_cached, len(pending))
    extraction.n_rejected = cache.rejected if cache is not None else 0
    return extraction


def _check_unique(tasks: Sequence[ExtractionTask]) -> None:
    seen: set[tuple[str, str]] = set()
    for task in tasks:
        ident = (task.case_id, task.reader)
        if ident in seen:
            raise ValueError(f"duplicate task: case_id '{task.case_id}' reader '{task.reader}' "
                             "appears twice")
        seen.add(ident)


def _failure(task: ExtractionTask, stage: str, reason: str) -> dict[str, str]:
    return {"case_id": task.case_id, "reader": task.reader, "stage": stage, "reason": reason}


def _run_serial(tasks: Iterable[ExtractionTask], params: dict[str, Any],
                sigma_in_pixels: bool) -> Iterator[_Outcome]:
    for task in tasks:
        result, error = _extract_task(task, params, sigma_in_pixels)
        yield _Outcome(task, result, error)


def _run_pool(tasks: Sequence[ExtractionTask], params: dict[str, Any], sigma_in_pixels: bool,
              workers: int) -> Iterator[_Outcome]:
    """Process pool with a bounded queue (2 tasks per worker in flight).

    A worker that dies (segfault, OOM killer) breaks the whole pool and every task
    in flight with it; those tasks are then retried one by one in a fresh
    one-worker pool, so only the task that kills its worker is recorded as failed.
    """
    ctx = mp.get_context("forkserver")
    queue = list(reversed(tasks))
    broken: list[ExtractionTask] = []
    pool_broken = False
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                             initializer=die_with_parent) as pool:
        running: dict[Future, ExtractionTask] = {}

        def fill() -> bool:
            while queue and len(running) < 2 * workers:
                task = queue.pop()
                try:
                    future = pool.submit(_extract_task, task, params, sigma_in_pixels, True)
                except BrokenProcessPool:
                    queue.append(task)
                    return False
                running[future] = task
            return True

        pool_broken = not fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                task = running.pop(future)
                try:
                    result, error = future.result()
                except BrokenProcessPool:
                    broken.append(task)
                    pool_broken = True
                    continue
                yield _Outcome(task, result, error)
            if not pool_broken:
                pool_broken = not fill()
    for task in broken:
        yield _run_isolated(task, params, sigma_in_pixels, ctx)
    if pool_broken and queue:
        yield from _run_pool(list(reversed(queue)), params, sigma_in_pixels, workers)


def _run_isolated(task: ExtractionTask, params: dict[str, Any], sigma_in_pixels: bool,
                  ctx: Any) -> _Outcome:
    """Run one task alone in a fresh worker; a dead worker is this task's failure."""
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                             initializer=die_with_parent) as pool:
        try:
            result, error = pool.submit(_extract_task, task, params, sigma_in_pixels,
                                        True).result()
        except BrokenProcessPool:
            return _Outcome(task, None, "worker process died while extracting this case "
                            "(crash or out of memory)", stage="worker")
    return _Outcome(task, result, error)


def _run_dask(tasks: Sequence[ExtractionTask], params: dict[str, Any], sigma_in_pixels: bool,
              scheduler: str) -> Iterator[_Outcome]:
    """Run the same per-case function on a Dask distributed cluster."""
    if not tasks:
        return
    from distributed import Client, as_completed

    with Client(scheduler, set_as_default=False) as client:
        params_future = client.scatter(params, broadcast=True)
        futures = {
            client.submit(_extract_task, task, params_future, sigma_in_pixels, True,
                          pure=False): task
            for task in tasks
        }
        for future in as_completed(list(futures), loop=client.loop):
            task = futures[future]
            try:
                result, error = future.result()
                stage = "extract"
            except Exception as exc:  # noqa: BLE001 - a lost worker is one case's failure
                result, error, stage = None, _one_line(exc), "worker"
            yield _Outcome(task, result, error, stage=stage)


def _assemble(tasks: Sequence[ExtractionTask], results: dict[tuple[str, str], CaseResult],
              failures: list[dict[str, str]], n_cached: int, n_computed: int
              ) -> ExtractionResult:
    order = [(t.case_id, t.reader) for t in tasks if (t.case_id, t.reader) in results]
    index = pd.MultiIndex.from_tuples(order, names=INDEX)
    columns: dict[str, None] = {}
    for ident in order:
        columns.update(dict.fromkeys(results[ident].features))
    names = list(columns)
    nan = float("nan")
    matrix = np.array([[results[i].features.get(c, nan) for c in names] for i in order],
                      dtype=float).reshape(len(order), len(names))
    features = pd.DataFrame(matrix, index=index, columns=names)
    diag_columns: dict[str, None] = {}
    for ident in order:
        diag_columns.update(dict.fromkeys(results[ident].diagnostics))
    diag_names = list(diag_columns)
    diagnostics = pd.DataFrame([[results[i].diagnostics.get(c) for c in diag_names]
                                for i in order], index=index, columns=diag_names, dtype=object)
    return ExtractionResult(
        features=features,
        diagnostics=diagnostics,
        failures=pd.DataFrame(failures, columns=FAILURE_COLUMNS),
        n_cached=n_cached,
        n_computed=n_computed,
    )
