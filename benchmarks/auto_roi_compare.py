"""Test AUCs with automatic ROIs beside the manual-ROI study, with paired DeLong tests.

Reads the predictions of three runs of one cohort with one split (see auto_roi.sh):
manual ROIs everywhere, automatic ROIs on the test cases only (models built on manual
ROIs), and automatic ROIs everywhere; compares each model's test AUC on the test cases
all three runs scored.

    .venv/bin/python benchmarks/auto_roi_compare.py runs/auto-roi --out results.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from sonomics.evaluation.delong import auc_delong, delong_test

RUNS = {"manual": "manual", "auto ROI on test": "auto-test", "fully automatic": "auto-all"}
MODELS = ("radiomics", "deep", "dlr", "clinical", "nomogram")


def test_scores(run: Path, model: str) -> pd.DataFrame | None:
    path = run / "predictions" / f"{model}.csv"
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col="case_id")
    return frame[frame["split"] == "test"][["label", "prob"]]


def compare(root: Path) -> pd.DataFrame:
    rows = []
    for model in MODELS:
        scores = {name: test_scores(root / folder / "study", model)
                  for name, folder in RUNS.items()}
        scores = {k: v for k, v in scores.items() if v is not None}
        if "manual" not in scores:
            continue
        common = sorted(set.intersection(*(set(v.index) for v in scores.values())))
        y = scores["manual"].loc[common, "label"].to_numpy()
        base = scores["manual"].loc[common, "prob"].to_numpy()
        for name, frame in scores.items():
            prob = frame.loc[common, "prob"].to_numpy()
            auc, lo, hi = auc_delong(y, prob)
            row = {"model": model, "ROIs": name, "n_test": len(common),
                   "AUC": round(auc, 3), "95% CI": f"{lo:.3f}-{hi:.3f}"}
            if name != "manual":
                test = delong_test(y, prob, base)
                row |= {"delta vs manual": round(auc - auc_delong(y, base)[0], 3),
                        "DeLong p": round(float(test.p), 4)}
            rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = compare(args.root)
    print(table.to_markdown(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
