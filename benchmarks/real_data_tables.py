"""Print the markdown blocks of benchmarks/real_data.md from a finished study run.

    python benchmarks/real_data_tables.py runs/bus-bra/study --covariate device --per-patient
    python benchmarks/real_data_tables.py runs/breast-lesions-usg/study

Prints Table 7, the DeLong p-values (testing set), the comparators (Table 8) and their
DeLong tests, the seconds each stage took, and -- with ``--covariate COLUMN`` -- an
examination of a manifest column that must not be a predictor (BUS-BRA's ultrasound
device): its association with the label (chi-square) and each model's test AUC per level.
Reads only what the run wrote; fits nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from scipy import stats

from sonomics.config import StudyConfig
from sonomics.data.manifest import read_table
from sonomics.evaluation.delong import auc_delong
from sonomics.rundir import RunDir

TABLES = ["table7_all_models", "delong_test", "table8_comparators", "delong_comparators"]


def stage_seconds(run: Path) -> str:
    cells = []
    for path in sorted((run / "cache" / "stages").glob("*.json"),
                       key=lambda p: p.stat().st_mtime):
        info = json.loads(path.read_text())
        rss = (f", peak RSS so far {info['peak_rss_mb'] / 1024:.2f} GB"
               f" (workers {info['children_peak_rss_mb'] / 1024:.2f} GB)"
               if "peak_rss_mb" in info else "")
        cells.append(f"{path.stem} {info['seconds']:.1f} s{rss}")
    return "Stages (last computation of each): " + "; ".join(cells)


def covariate_block(run: Path, column: str) -> str:
    cfg = StudyConfig.load(run / "config.yaml")
    raw = read_table(cfg.data.manifest)
    raw.index = raw[cfg.data.case_id].astype(str)
    lines = [f"### Covariate examined, not used: `{column}`", ""]
    label = raw[cfg.data.label].astype(str).str.strip().str.lower()
    table = pd.crosstab(raw[column], label)
    chi2, p, dof, _ = stats.chi2_contingency(table)
    lines += ["| " + column + " | " + " | ".join(table.columns) + " | malignant share |",
              "|---|" + "---|" * (len(table.columns) + 1)]
    for level, row in table.iterrows():
        share = row.get("malignant", 0) / row.sum()
        lines.append(f"| {level} | " + " | ".join(str(v) for v in row) + f" | {share:.2f} |")
    lines += ["", f"Chi-square test of {column} vs pathology: chi2 = {chi2:.1f}, df = {dof}, "
                  f"p = {p:.2g}.", ""]
    rows = []
    for model, test in RunDir(run).test_predictions():
        name = model.label
        for level, part in test.join(raw[[column]]).groupby(column):
            counts = part["label"].value_counts()
            if len(counts) == 2 and counts.min() >= 2:
                auc, lo, hi = auc_delong(part["label"].astype(int), part["prob"])
                rows.append({"Model": name, column: level, "n": len(part),
                             "malignant": int(counts.get(1, 0)),
                             "AUC (95% CI)": f"{auc:.3f} ({lo:.3f} - {hi:.3f})"})
    if rows:
        lines.append(f"Test AUC per {column} level (levels with at least two cases per class):")
        lines.append("")
        lines.append(pd.DataFrame(rows).to_markdown(index=False))
    return "\n".join(lines)


def per_patient_block(run: Path) -> str:
    """Test AUC with images averaged per patient (images of one patient are not independent)."""
    cfg = StudyConfig.load(run / "config.yaml")
    raw = read_table(cfg.data.manifest)
    patient = pd.Series(raw[cfg.data.patient_id].astype(str).to_numpy(),
                        index=raw[cfg.data.case_id].astype(str))
    rows = []
    for model, test in RunDir(run).test_predictions():
        name = model.label
        per = test.groupby(patient.reindex(test.index).to_numpy()).agg(
            label=("label", "max"), prob=("prob", "mean"))
        auc, lo, hi = auc_delong(per["label"].astype(int), per["prob"])
        rows.append({"Model": name, "patients": len(per), "images": len(test),
                     "AUC (95% CI), per patient": f"{auc:.3f} ({lo:.3f} - {hi:.3f})"})
    return ("Test AUC per patient (mean probability of a patient's images; a patient is "
            "malignant if any image is):\n\n" + pd.DataFrame(rows).to_markdown(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--covariate", default=None)
    parser.add_argument("--per-patient", action="store_true",
                        help="also the test AUC with images averaged per patient")
    args = parser.parse_args()
    for name in TABLES:
        path = args.run / "tables" / f"{name}.md"
        if path.exists():
            print(path.read_text().strip(), end="\n\n")
    print(stage_seconds(args.run), end="\n\n")
    if args.covariate:
        print(covariate_block(args.run, args.covariate), end="\n\n")
    if args.per_patient:
        print(per_patient_block(args.run))


if __name__ == "__main__":
    main()
