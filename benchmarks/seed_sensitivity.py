"""How much a study's results move with the seeds: rerun it over several split + model
seeds and report each model's test AUC (mean ± SD, range) and how often each feature is
selected.

    .venv/bin/python benchmarks/seed_sensitivity.py --demo --seeds 1 2 3 4 5 --out runs/seeds
    .venv/bin/python benchmarks/seed_sensitivity.py --config examples/breast-lesions-usg.yaml \\
        --seeds 1 2 3 --out runs/seeds-breast --profile quick

Each seed is a whole, independent study (split seed = model seed = the seed) in
OUT/seed-<s>/; handcrafted features are extracted once and shared (their cache is keyed on
content). Prints Markdown for benchmarks/BENCHMARKS.md and writes OUT/seed_sensitivity.json.

Why: the selection chain's hard thresholds (p < 0.05, |r| > 0.9, LASSO's lambda) turn
float-level differences — another CPU, another BLAS — into other selected features, and
the split decides which patients are tested. One seed's Table 7 is one draw; the spread
over seeds is what a reader should weigh a difference between models against.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

from rich.console import Console

from sonomics.config import StudyConfig, apply_profile
from sonomics.evaluation.delong import auc_delong
from sonomics.rundir import Model, RunDir
from sonomics.study import Study
from sonomics.study.crossval import share_feature_cache
from sonomics.system import available_cores, peak_rss_mb


def demo_config(out: Path) -> StudyConfig:
    from sonomics.data.demo import DemoSettings, demo_config_dict, generate_demo_cohort

    manifest = generate_demo_cohort(out / "cohort", DemoSettings())
    return StudyConfig.from_dict(demo_config_dict(manifest, out))


def run_seed(base: StudyConfig, seed: int, out: Path, console: Console) -> dict:
    cfg = base.model_copy(deep=True)
    cfg.seed, cfg.split.seed, cfg.out = seed, seed, out / f"seed-{seed}"
    share_feature_cache(out, cfg.out)
    tic = time.perf_counter()
    Study(cfg, console=console).run()
    run = RunDir(cfg.out)
    aucs = {m.label: auc_delong(t["label"].astype(int), t["prob"])[0]
            for m, t in run.test_predictions() if t["label"].nunique() == 2}
    selected = {name: (run.meta(name) or {}).get("selected", []) for name in ("radiomics", "dlr")}
    return {"seed": seed, "seconds": round(time.perf_counter() - tic, 1), "test_auc": aucs,
            "selected": selected}


def markdown(runs: list[dict], command: str) -> str:
    models = [m.label for m in Model if any(m.label in r["test_auc"] for r in runs)]
    lines = [f"Command: `{command}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {available_cores()} "
             f"cores, Python {platform.python_version()}; date "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; peak RSS "
             f"{peak_rss_mb()['peak_rss_mb']:.0f} MB.", "",
             "| Model | " + " | ".join(f"seed {r['seed']}" for r in runs)
             + " | mean ± SD | range |", "|---|" + "---|" * (len(runs) + 2)]
    for m in models:
        vals = [r["test_auc"].get(m) for r in runs]
        got = [v for v in vals if v is not None]
        sd = statistics.stdev(got) if len(got) > 1 else float("nan")
        lines.append(f"| {m} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in vals)
                     + f" | {statistics.mean(got):.3f} ± {sd:.3f} | {min(got):.3f}–"
                       f"{max(got):.3f} |")
    for family in ("radiomics", "dlr"):
        counts = Counter(f for r in runs for f in r["selected"][family])
        if counts:
            top = ", ".join(f"{f} ({n}/{len(runs)})" for f, n in counts.most_common(10))
            sizes = [len(r["selected"][family]) for r in runs]
            lines += ["", f"{family}: {sizes} features selected per seed; "
                          f"{len(counts)} distinct; most frequent: {top}."]
    lines += ["", "Seconds per seed: " + ", ".join(f"{r['seconds']:.0f}" for r in runs) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="the SYNTHETIC demo cohort")
    source.add_argument("--config", type=Path, help="a study config")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", default=None, help="quick | paper (deep profile)")
    args = parser.parse_args()
    console = Console(stderr=True)
    out = args.out.resolve()
    base = demo_config(out) if args.demo else StudyConfig.load(args.config)
    if args.profile:
        base = apply_profile(base, args.profile)
    runs = []
    for seed in args.seeds:
        console.rule(f"seed {seed}")
        runs.append(run_seed(base, seed, out, console))
        (out / "seed_sensitivity.json").write_text(json.dumps(runs, indent=2))
    import sys

    print(markdown(runs, "python " + " ".join(sys.argv)))


if __name__ == "__main__":
    main()
