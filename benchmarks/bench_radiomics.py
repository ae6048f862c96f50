"""Radiomics extraction benchmark on BUS-BRA (not a test; minutes of CPU).

Compares, on the same N images and the shipped 1,497-feature parameter file:

1. a plain serial pyradiomics loop, the baseline a user would write (PIL -> float32
   array -> SimpleITK -> ``RadiomicsFeatureExtractor.execute``);
2. the sonomics engine (``run_extraction``, what ``sonomics extract`` runs) with
   ``--workers`` processes and a cold cache;
3. the same engine call again with the cache full.

It reports the speed-up, the maximum absolute difference between the baseline's and
the engine's features (goal: 0), the cached-rerun speed-up and the peak RSS.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_radiomics.py --n 200 --workers 2
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sonomics.system import available_cores, peak_rss_mb

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def bus_bra_cases(root: Path, n: int) -> list[tuple[str, Path, Path]]:
    images = sorted((root / "Images").glob("bus_*.png"))[:n]
    if len(images) < n:
        raise SystemExit(f"only {len(images)} BUS-BRA images under {root}, {n} requested")
    return [(p.stem, p, root / "Masks" / p.name.replace("bus_", "mask_")) for p in images]


def serial_baseline(cases, params) -> tuple[pd.DataFrame, list[float]]:
    """The loop a user would write: one extractor, one case after another."""
    import SimpleITK as sitk
    from PIL import Image
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(params)
    rows, times = {}, []
    for case_id, image_path, mask_path in cases:
        t0 = time.perf_counter()
        image = np.asarray(Image.open(image_path).convert("L"), dtype=np.float32)
        mask = (np.asarray(Image.open(mask_path).convert("L")) > 0).astype(np.uint8)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*local_binary_pattern.*")
            result = extractor.execute(sitk.GetImageFromArray(image),
                                       sitk.GetImageFromArray(mask))
        rows[case_id] = {k: float(v) for k, v in result.items()
                         if not k.startswith("diagnostics_")}
        times.append(time.perf_counter() - t0)
    return pd.DataFrame.from_dict(rows, orient="index"), times


def main() -> None:
    from sonomics.radiomics.engine import run_extraction
    from sonomics.radiomics.extract import ExtractionTask
    from sonomics.radiomics.params import load_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "bus-bra")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    cases = bus_bra_cases(args.data, args.n)
    params = load_params()
    tasks = [ExtractionTask(c, i, m) for c, i, m in cases]

    t0, c0 = time.perf_counter(), os.times()
    baseline, per_case = serial_baseline(cases, params)
    t_serial, c1 = time.perf_counter() - t0, os.times()
    cpu_serial = (c1.user - c0.user) + (c1.system - c0.system)

    with tempfile.TemporaryDirectory(prefix="bench-radiomics-") as cache:
        t0, c0 = time.perf_counter(), os.times()
        cold = run_extraction(tasks, params, cache_dir=cache, workers=args.workers,
                              progress=False)
        t_cold, c1 = time.perf_counter() - t0, os.times()
        main_cpu = (c1.user - c0.user) + (c1.system - c0.system)
        # workers are forkserver children, not ours: add their per-case CPU from diagnostics
        cpu_cold = (c1.user - c0.user) + (c1.system - c0.system) + float(
            cold.diagnostics["diagnostics_sonomics_cpu_s"].astype(float).sum())
        t0 = time.perf_counter()
        warm = run_extraction(tasks, params, cache_dir=cache, workers=args.workers,
                              progress=False)
        t_warm = time.perf_counter() - t0

    ours = cold.for_reader("reader1")
    common = baseline.columns.intersection(ours.columns)
    diff = (ours.loc[baseline.index, common] - baseline[common]).abs().to_numpy()
    warm_diff = (warm.for_reader("reader1") - ours).abs().to_numpy()
    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{available_cores()} cores, "
                   f"Python {platform.python_version()}",
        "n_images": len(cases),
        "n_features": int(ours.shape[1]),
        "failures": len(cold.failures),
        "serial_s": round(t_serial, 2),
        "serial_median_per_image_s": round(statistics.median(per_case), 3),
        "engine_cold_s": round(t_cold, 2),
        "workers": args.workers,
        "speedup_vs_serial": round(t_serial / t_cold, 2),
        "serial_cpu_s": round(cpu_serial, 2),
        "engine_cpu_s_all_processes": round(cpu_cold, 2),
        "engine_cpu_s_main_process": round(main_cpu, 2),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "max_abs_diff_vs_serial": float(np.nanmax(diff)) if diff.size else float("nan"),
        "features_compared": int(len(common)),
        "engine_cached_s": round(t_warm, 3),
        "cached_speedup": round(t_cold / t_warm, 1),
        "cached_max_abs_diff": float(np.nanmax(warm_diff)),
        "peak_rss_main_mib": peak_rss_mb()["peak_rss_mb"],
        "peak_rss_worker_mib": float(
            cold.diagnostics["diagnostics_sonomics_peak_rss_mib"].astype(float).max()),
    }
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
