"""A bounded local load test of ``sonomics serve`` (a benchmark, not a timed test).

Starts ``sonomics serve BUNDLE`` on a free localhost port, then N client threads post the
same case to ``POST /api/predict`` for a fixed time. Reports requests/s, p50/p95 latency,
errors (must be 0) and the server's peak memory; the baseline, measured in the same run,
is the same case scored in-process by ``score_manifest`` (no HTTP), so the ratio is what
the web layer and queueing add.

    .venv/bin/python benchmarks/serve_load.py --bundle runs/demo/bundle \\
        --manifest runs/demo/cohort/manifest.csv --clients 4 --seconds 60 --json load.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pandas as pd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def case_request(bundle_dir: Path, manifest: Path) -> tuple[dict, dict, pd.Series]:
    """The first case of the manifest as an API request (files, form fields) and its row."""
    from sonomics.bundle import load_bundle
    from sonomics.serve.schema import input_schema

    schema = input_schema(load_bundle(bundle_dir))
    frame = pd.read_csv(manifest)
    row = frame.iloc[0]
    base = manifest.parent
    files = {"image": (base / row["image"]).read_bytes(), "mask": (base / row["mask"]).read_bytes()}
    spacing = str(row.get("spacing_mm", "")) if schema.spacing else ""
    data = {"factors": json.dumps({f.name: str(row[f.name]) for f in schema.factors}),
            "spacing_mm": spacing, "accept_out_of_range": "true"}
    return files, data, row


def direct_seconds(bundle_dir: Path, manifest: Path, repeats: int, figures: bool
                   ) -> list[float]:
    """The same case scored in-process by score_manifest (the baseline)."""
    from sonomics.bundle import load_bundle
    from sonomics.predict import score_manifest

    bundle = load_bundle(bundle_dir)
    frame = pd.read_csv(manifest).head(1)
    for col in ("image", "mask"):
        frame[col] = [str(manifest.parent / p) for p in frame[col]]
    frame = frame.drop(columns=[c for c in ("label", "mask_reader2") if c in frame])
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.csv"
        frame.to_csv(one, index=False)
        for _ in range(repeats):
            tic = time.perf_counter()
            result = score_manifest(bundle, one, Path(tmp) / "out", gradcam=figures)
            times.append(time.perf_counter() - tic)
            assert result["error"].iloc[0] == "", result["error"].iloc[0]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("runs/demo/bundle"))
    parser.add_argument("--manifest", type=Path, default=Path("runs/demo/cohort/manifest.csv"))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--repeats", type=int, default=5, help="baseline repetitions")
    parser.add_argument("--no-figures", action="store_true",
                        help="ask for scores only (no Grad-CAM / nomogram PNGs)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    files, data, row = case_request(args.bundle, args.manifest)
    data["figures"] = "false" if args.no_figures else "true"
    baseline = direct_seconds(args.bundle, args.manifest, args.repeats, not args.no_figures)
    port = free_port()
    sonomics = Path(sys.executable).with_name("sonomics")
    server = subprocess.Popen([str(sonomics), "serve", str(args.bundle), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(url + "/api/schema", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start: " + server.stderr.read().decode())
            time.sleep(0.3)
        idle_rss = rss_mib(server.pid, "VmRSS")
        latencies: list[float] = []
        errors: list[str] = []
        lock, stop_at = threading.Lock(), time.perf_counter() + args.seconds

        def client() -> None:
            with httpx.Client(base_url=url, timeout=300) as http:
                while time.perf_counter() < stop_at:
                    tic = time.perf_counter()
                    reply = http.post("/api/predict", files=files, data=data)
                    elapsed = time.perf_counter() - tic
                    with lock:
                        latencies.append(elapsed)
                        if reply.status_code != 200:
                            errors.append(f"{reply.status_code}: {reply.text[:120]}")

        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        peak_rss = rss_mib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": next((ln.split(":", 1)[1].strip() for ln in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), platform.processor()),
        "cores": os.cpu_count(), "bundle": str(args.bundle), "case": str(row["case_id"]),
        "figures": not args.no_figures,
        "clients": args.clients, "seconds": round(wall, 1), "requests": len(lat),
        "requests_per_s": round(len(lat) / wall, 3),
        "p50_s": round(statistics.median(lat), 3), "p95_s": round(p95, 3),
        "errors": len(errors), "first_errors": errors[:3],
        "server_idle_rss_mib": round(idle_rss), "server_peak_rss_mib": round(peak_rss),
        "baseline_median_s": round(statistics.median(baseline), 3),
        "baseline_runs_s": [round(t, 3) for t in baseline],
    }
    out["p50_over_baseline"] = round(out["p50_s"] / out["baseline_median_s"], 2)
    out["throughput_over_baseline"] = round(
        out["requests_per_s"] * out["baseline_median_s"], 2)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
