"""Summarise recorded cross-validation folds (``busbra_cv5.sh``'s results) as markdown.

    python benchmarks/cv_summary.py benchmarks/results/busbra-cv5-foldmean \
        --before benchmarks/results/busbra-cv5

Reads each ``fold-K/cv_auc.csv`` (one fold's test AUC per model, written by
``sonomics cv --only K``) and prints, per model, the mean test AUC ± SD over the folds
(ddof = 1), min – max and every fold's figure; with ``--before``, the same models' mean
from an earlier set of folds beside it, and the per-fold difference. Then the DLR's
per-fold margin over radiomics and over the shape-only comparator. Fits nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def fold_aucs(results: Path) -> pd.DataFrame:
    """Test AUC per model (rows) and fold (columns ``Fold K``) from every recorded fold; with
    ``table5_deep.csv`` beside it, also the CNN trained on all training cases (Table 5),
    which Table 7's fold-mean score replaced."""
    columns = []
    for fold_dir in sorted(results.glob("fold-*"), key=lambda p: int(p.name.split("-")[1])):
        table = pd.read_csv(fold_dir / "cv_auc.csv").set_index("Model")
        fold = f"Fold {fold_dir.name.split('-')[1]}"
        aucs = table[fold].astype(float)
        table5 = fold_dir / "table5_deep.csv"
        if table5.is_file():
            full = pd.read_csv(table5).set_index("Model")["AUC"]
            tested = full[full.index.str.endswith("-testing")]
            aucs = pd.concat([aucs, pd.Series(
                tested.to_numpy(), index=[f"{m[:-len('-testing')]}, CNN on all training "
                                          "cases (Table 5)" for m in tested.index])])
        columns.append(aucs.rename(fold))
    if not columns:
        raise SystemExit(f"{results}: no fold-K/cv_auc.csv recorded")
    return pd.concat(columns, axis=1)


def mean_sd(row: pd.Series) -> str:
    sd = row.std(ddof=1) if row.notna().sum() > 1 else float("nan")
    return f"{row.mean():.3f} ± {sd:.3f}" if sd == sd else f"{row.mean():.3f}"


def summary(now: pd.DataFrame, before: pd.DataFrame | None) -> str:
    folds = list(now.columns)
    head = ["Model"] + (["Before: mean ± SD"] if before is not None else [])
    head += ["**Now: mean ± SD**", "min – max", *folds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, row in now.iterrows():
        cells = [str(model)]
        if before is not None:
            cells.append(mean_sd(before.loc[model, folds]) if model in before.index else "–")
        cells += [f"**{mean_sd(row)}**", f"{row.min():.3f} – {row.max():.3f}"]
        cells += [f"{v:.3f}" for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margins(now: pd.DataFrame, before: pd.DataFrame | None) -> str:
    out = []
    dlr = now.loc["DLR"]
    for other in ("Radiomics", "Shape only (9 features)"):
        if other in now.index:
            diff = dlr - now.loc[other]
            out.append(f"DLR − {other} per fold: "
                       + ", ".join(f"{d:+.3f}" for d in diff)
                       + f" (mean {diff.mean():+.3f}; above in {(diff > 0).sum()} of {len(diff)})")
    if before is not None:
        for model in ("Deep Learning", "DLR"):
            if model in before.index:
                diff = now.loc[model] - before.loc[model, now.columns]
                out.append(f"{model}, now − before per fold: "
                           + ", ".join(f"{d:+.3f}" for d in diff) + f" (mean {diff.mean():+.3f})")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="folder of fold-K/cv_auc.csv")
    parser.add_argument("--before", type=Path, help="an earlier folder to compare with")
    args = parser.parse_args()
    now = fold_aucs(args.results)
    before = fold_aucs(args.before) if args.before else None
    print(summary(now, before))
    print()
    print(margins(now, before))


if __name__ == "__main__":
    main()
