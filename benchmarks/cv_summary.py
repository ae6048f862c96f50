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

from sonomics.study.crossval import summarise_folds


def fold_aucs(results: Path) -> pd.DataFrame:
    """Test AUC per model (rows) and fold (columns ``Fold K``) from every recorded fold; with
    ``table5_deep.csv`` beside it, also the CNN trained on all training cases (Table 5),
    which Table 7's fold-mean score replaced."""
    columns = []
    for fold_dir in sorted(results.glob("fold-*"), key=lambda p: int(p.name.removeprefix("fold-"))):
        table = pd.read_csv(fold_dir / "cv_auc.csv").set_index("Model")
        fold = f"Fold {fold_dir.name.removeprefix('fold-')}"
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


def _summarise(aucs: pd.DataFrame) -> pd.DataFrame:
    """The study's own per-model summary (``sonomics cv``'s cv_auc.csv) of a models x
    ``Fold K`` frame, indexed by model."""
    by_fold = aucs.T.rename(index=lambda fold: fold.removeprefix("Fold "))
    return summarise_folds(by_fold).set_index("Model")


def mean_sd(summary: pd.DataFrame, model: str) -> str:
    """``summarise_folds``'s mean and SD of one model as "mean ± SD" (the mean alone for
    one fold)."""
    row = summary.loc[model]
    return row["Mean AUC"] + ("" if row["SD"] == "–" else f" ± {row['SD']}")


def summary(now: pd.DataFrame, before: pd.DataFrame | None) -> str:
    folds = list(now.columns)
    by_model = _summarise(now)
    earlier = _summarise(before[folds]) if before is not None else None
    head = ["Model"] + (["Before: mean ± SD"] if before is not None else [])
    head += ["**Now: mean ± SD**", "min – max", *folds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in now.index:
        row = by_model.loc[model]
        cells = [str(model)]
        if earlier is not None:
            cells.append(mean_sd(earlier, model) if model in earlier.index else "–")
        cells += [f"**{mean_sd(by_model, model)}**", f"{row['Min']} – {row['Max']}"]
        cells += [row[fold] for fold in folds]
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
