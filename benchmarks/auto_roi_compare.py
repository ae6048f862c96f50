"""Test AUCs with automatic ROIs beside the manual-ROI study, with paired DeLong tests.

Reads the scorings of one cohort's test cases with one split (see auto_roi.sh): the
manual-ROI study's predictions; its bundle's `sonomics predict` output on the test cases'
automatic ROIs, whole-image and box-prompted (models built on manual ROIs); the
predictions of a study on automatic ROIs everywhere. Compares each model's test AUC on the
test cases all of them scored (an arm not run is left out).

    .venv/bin/python benchmarks/auto_roi_compare.py runs/auto-roi --out results.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from sonomics.evaluation.delong import auc_delong, delong_test

MODELS = ("radiomics", "deep", "dlr", "clinical", "nomogram")


def study_scores(study: Path, model: str) -> pd.Series | None:
    """A study's test-case probabilities of one model (None when it has no such model)."""
    path = study / "predictions" / f"{model}.csv"
    if not path.exists():
        return None
    frame = pd.read_csv(path, index_col="case_id")
    return frame.loc[frame["split"] == "test", "prob"]


def predicted_scores(predictions: Path, model: str) -> pd.Series | None:
    """`sonomics predict`'s probabilities of one model, cases it could not score left out."""
    if not predictions.exists():
        return None
    frame = pd.read_csv(predictions, index_col="case_id", keep_default_na=False)
    column = f"{model}_prob"
    if column not in frame.columns:
        return None
    return pd.to_numeric(frame[column], errors="coerce").dropna()


def test_labels(study: Path) -> pd.Series:
    frame = pd.read_csv(study / "predictions" / "radiomics.csv", index_col="case_id")
    return frame.loc[frame["split"] == "test", "label"]


def compare(root: Path) -> pd.DataFrame:
    manual_study = root / "manual" / "study"
    labels = test_labels(manual_study)
    rows = []
    for model in MODELS:
        scores = {"manual": study_scores(manual_study, model),
                  "auto ROI on test": predicted_scores(root / "auto-test" / "predictions.csv",
                                                       model),
                  "auto ROI (box) on test": predicted_scores(
                      root / "auto-test-box" / "predictions.csv", model),
                  "fully automatic": study_scores(root / "auto-all" / "study", model)}
        scores = {k: v for k, v in scores.items() if v is not None}
        if "manual" not in scores:
            continue
        common = sorted(set(labels.index).intersection(*(set(v.index)
                                                         for v in scores.values())))
        y = labels.loc[common].to_numpy()
        base = scores["manual"].loc[common].to_numpy()
        for name, series in scores.items():
            prob = series.loc[common].to_numpy()
            auc, lo, hi = auc_delong(y, prob)
            row = {"model": model, "ROIs": name, "n_test": len(common),
                   "AUC": round(auc, 3), "95% CI": f"{lo:.3f}-{hi:.3f}"}
            if name != "manual":
                test = delong_test(y, prob, base)
                row |= {"delta vs manual": round(auc - auc_delong(y, base)[0], 3),
                        "DeLong p": f"{test.p:.4f}" if test.p >= 1e-4 else "<0.0001"}
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
