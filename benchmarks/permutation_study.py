"""The whole study on labels drawn at random per patient, before and after a code change.

    .venv/bin/python benchmarks/permutation_study.py --seeds 1 2 3 --out runs/permutation
    git worktree add /tmp/old d5e5b4a   # the code before patient-grouped inner splits
    .venv/bin/python benchmarks/permutation_study.py --seeds 1 2 3 --out runs/permutation-old \\
        --src /tmp/old/src

Each seed builds the cohort of `tests/test_permutation_study.py` (patients with 2-3
near-duplicate images, labels, clinical variables and BI-RADS drawn independently) and runs
the whole study with `python -c 'from sonomics.cli import app; app()' run` on the package
under --src (default: this checkout), so an older commit can be measured on the same
cohorts. Nothing can be learned, so every honest estimate is an AUC of about 0.5. Reported
per model: the best classifier's cross-validated training AUC (the figure that chooses the
winner), the out-of-fold training AUC where the run writes one, and the test AUC.
Prints Markdown for benchmarks/BENCHMARKS.md and writes OUT/permutation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _study_data import noise_study  # noqa: E402  (the test's cohort, one definition)

FAMILIES = ("clinical", "radiomics", "deep", "dlr", "nomogram", "birads", "shape")


def _auc(frame: pd.DataFrame, column: str) -> float | None:
    rows = frame[column].notna()
    if rows.sum() == 0 or frame.loc[rows, "label"].nunique() < 2:
        return None
    return float(roc_auc_score(frame.loc[rows, "label"], frame.loc[rows, column]))


def measure(run: Path) -> dict[str, dict[str, float | None]]:
    """Per model: winner's CV AUC, out-of-fold training AUC, test AUC."""
    out: dict[str, dict[str, float | None]] = {}
    for name in FAMILIES:
        path = run / "predictions" / f"{name}.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        train, test = frame[frame["split"] == "train"], frame[frame["split"] == "test"]
        meta_path = run / "models" / f"{name}.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        cv = meta.get("cv_auc") or {}
        out[name] = {"cv_auc_winner": max(cv.values()) if cv else None,
                     "oof_auc": _auc(train, "oof") if "oof" in train else None,
                     "test_auc": _auc(test, "prob")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--patients", type=int, default=90)
    parser.add_argument("--out", type=Path, default=Path("runs/permutation"))
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    results = {}
    for seed in args.seeds:
        root = (args.out / f"seed-{seed}").resolve()
        raw = noise_study(root, patients=args.patients, seed=seed)
        config = root / "study.yaml"
        config.write_text(yaml.safe_dump(raw))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from sonomics.cli import app; app()", "run",
                        str(config)], check=True, env=env, stdout=subprocess.DEVNULL)
        results[seed] = {"seconds": time.perf_counter() - start, **measure(Path(raw["out"]))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "permutation.json").write_text(json.dumps(results, indent=2))
    print(f"src: {args.src}; {args.patients} patients; seeds {args.seeds}\n")
    print("| Model | CV AUC of the winner (per seed) | Out-of-fold training AUC | Test AUC |")
    print("|---|---|---|---|")
    for name in FAMILIES:
        cells = []
        for key in ("cv_auc_winner", "oof_auc", "test_auc"):
            values = [results[s][name][key] for s in args.seeds if name in results[s]]
            values = [v for v in values if v is not None]
            cells.append(", ".join(f"{v:.2f}" for v in values) +
                         (f" (max \\|AUC − 0.5\\| {max(abs(v - .5) for v in values):.2f})"
                          if values else "—"))
        if any(name in results[s] for s in args.seeds):
            print(f"| {name} | " + " | ".join(cells) + " |")
    wall = statistics.median(r["seconds"] for r in results.values())
    print(f"\nmedian wall per study: {wall:.0f} s")


if __name__ == "__main__":
    main()
