"""Methods 2.10 / Table 7 / Figures 7-8: every model on the cases all of them scored —
AUC with DeLong CI and the metrics at the training cut-off, ROC, decision and
calibration curves, Hosmer-Lemeshow, pairwise DeLong tests; comparators in Table 8."""

from __future__ import annotations

import pandas as pd

from sonomics.evaluation.tables import rows_by_set
from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import PAPER_MODELS
from sonomics.study.comparators import comparator_tables
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, figure, table


def _hosmer_lemeshow_row(name: str, side: str, y, prob) -> dict[str, str]:
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.calibration import hosmer_lemeshow

    try:
        hl = hosmer_lemeshow(y, prob)
    except DegenerateInputError as exc:  # reported, never a NaN in the table
        return {"Model": name, "Set": side, "HL statistic": "not computable", "df": "–",
                "P": "–", "groups": str(exc)}
    return {"Model": name, "Set": side, "HL statistic": f"{hl.statistic:.3f}",
            "df": str(hl.df), "P": f"{hl.p:.3f}", "groups": str(hl.groups)}


def evaluation(ctx: StudyContext) -> None:
    from sonomics.evaluation.delong import delong_matrix
    from sonomics.evaluation.metrics import performance_rows
    from sonomics.evaluation.plots import (
        calibration_figure,
        decision_curve_figure,
        delong_heatmap,
        roc_figure,
    )

    run = ctx.run
    preds = {m.label: p for m in PAPER_MODELS if (p := run.predictions(m)) is not None}
    if not preds:
        raise StageSkipped("no model produced predictions")
    common = None
    for p in preds.values():
        common = p.index if common is None else common.intersection(p.index)
    frames = {k: v.loc[common] for k, v in preds.items()}
    first = next(iter(frames.values()))
    split, label = first["split"], first["label"].astype(int)
    is_tr, is_te = (split == "train").to_numpy(), (split == "test").to_numpy()
    rows, hl_rows = [], []
    for name, f in frames.items():
        prob = f["prob"].to_numpy(dtype=float)
        rows.append(performance_rows(name, label[is_tr], prob[is_tr], label[is_te],
                                     prob[is_te]))
        for side, mask in (("training", is_tr), ("testing", is_te)):
            hl_rows.append(_hosmer_lemeshow_row(name, side, label[mask], prob[mask]))
    excluded = len(next(iter(preds.values()))) - len(common)
    run.write_table(rows_by_set(pd.concat(rows, ignore_index=True)), "table7_all_models",
                    title="Table 7. Performance of all models",
                    note=f"Evaluated on the {len(common)} cases every model could score "
                         f"({int(is_tr.sum())} training, {int(is_te.sum())} testing"
                         + (f"; {excluded} excluded" if excluded else "") + "). Cut-offs "
                         "chosen on the training set. " + (ctx.note() or ""))
    run.write_table(pd.DataFrame(hl_rows), "hosmer_lemeshow",
                    title="Hosmer-Lemeshow tests (g = 10; df = groups formed - 2)")
    for side, mask, tag in (("training", is_tr, "train"), ("testing", is_te, "test")):
        curves = {k: (label[mask], f["prob"].to_numpy(dtype=float)[mask])
                  for k, f in frames.items()}
        roc_figure(curves, title=f"ROC curves, {side} set", path=run.figure(f"roc_all_{tag}"))
        decision_curve_figure(curves, title=f"Decision curves, {side} set",
                              path=run.figure(f"dca_{tag}"))
        calibration_figure(curves, title=f"Calibration, {side} set",
                           path=run.figure(f"calibration_{tag}"))
        if len(curves) > 1:
            pvals = delong_matrix(label[mask], {k: c[1] for k, c in curves.items()})
            run.write_table(pvals.reset_index().rename(columns={"index": "Model"}),
                            f"delong_{tag}", title=f"DeLong test p-values, {side} set")
            delong_heatmap(pvals, title=f"DeLong test p-values, {side} set",
                           path=run.figure(f"delong_{tag}"))
    comparator_tables(ctx, frames)


EVALUATION = Stage(
    "evaluation", evaluation,
    "Comparison of all models (Table 7, ROC, DCA, calibration, DeLong)",
    needs=("clinical", "radiomics_model", "deep", "fusion", "nomogram", "comparators"),
    writes=("tables/table7_all_models.*", "tables/hosmer_lemeshow.*", "tables/delong_*",
            "tables/table8_comparators.*", "figures/roc_all_*.png", "figures/dca_*.png",
            "figures/calibration_*.png", "figures/delong_*.png",
            "figures/roc_comparators_test.png"),
    outline=Section("Comparison of all models", (
        table("table7_all_models", "Table 7. Performance of all models"),
        figure("roc_all_train", "Figure 7A. ROC curves, training set"),
        figure("roc_all_test", "Figure 7B. ROC curves, testing set"),
        figure("dca_train", "Figure 8A. Decision curves, training set"),
        figure("dca_test", "Figure 8B. Decision curves, testing set"),
        figure("delong_train", "Supplementary Figure 7A. DeLong test p-values, training set"),
        figure("delong_test", "Supplementary Figure 7B. DeLong test p-values, testing set"),
        figure("calibration_train", "Supplementary Figure 8A. Calibration, training set"),
        figure("calibration_test", "Supplementary Figure 8B. Calibration, testing set"),
        table("hosmer_lemeshow", "Hosmer-Lemeshow tests"),
        table("delong_train", "DeLong test p-values, training set"),
        table("delong_test", "DeLong test p-values, testing set"),
    )))
