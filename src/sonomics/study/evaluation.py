"""Methods 2.10 / Table 7 / Figures 7-8: every model on the cases all of them scored —
AUC with DeLong CI and the metrics at the training cut-off, ROC, decision and
calibration curves, Hosmer-Lemeshow, pairwise DeLong tests; comparators in Table 8."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sonomics.evaluation.tables import rows_by_set
from sonomics.pipeline import Stage, StageSkipped
from sonomics.rundir import PAPER_MODELS, Model
from sonomics.study.comparators import comparator_tables
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, figure, table


def _hosmer_lemeshow_row(name: str, side: str, y, prob) -> dict[str, str]:
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.calibration import hosmer_lemeshow
    from sonomics.evaluation.metrics import format_p

    try:
        hl = hosmer_lemeshow(y, prob)
    except DegenerateInputError as exc:  # reported, never a NaN in the table
        return {"Model": name, "Set": side, "HL statistic": "not computable", "df": "–",
                "P": "–", "groups": str(exc)}
    return {"Model": name, "Set": side, "HL statistic": f"{hl.statistic:.3f}",
            "df": str(hl.df), "P": format_p(hl.p), "groups": str(hl.groups)}


def _calibration_row(name: str, side: str, y, prob) -> dict[str, str]:
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.validation import calibration_with_ci

    try:
        c = calibration_with_ci(y, prob)
    except DegenerateInputError as exc:  # reported, never a NaN in the table
        return {"Model": name, "Set": side, "n": str(len(y)),
                "Calibration-in-the-large (95% CI)": f"not computable: {exc}",
                "Calibration slope (95% CI)": "–", "Brier": "–", "Emax": "–", "Eavg": "–"}
    return {"Model": name, "Set": side, "n": str(c["n"]),
            "Calibration-in-the-large (95% CI)":
                f"{c['citl']:.3f} ({c['citl_low']:.3f} to {c['citl_high']:.3f})",
            "Calibration slope (95% CI)":
                f"{c['slope']:.3f} ({c['slope_low']:.3f} to {c['slope_high']:.3f})",
            "Brier": f"{c['brier']:.3f}", "Emax": f"{c['emax']:.3f}", "Eavg": f"{c['eavg']:.3f}"}


def evaluation(ctx: StudyContext) -> None:
    from sonomics.evaluation.metrics import performance_rows
    from sonomics.evaluation.plots import calibration_figure, decision_curve_figure, roc_figure

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
    is_ex = (split == "external").to_numpy()
    if is_ex.any() and label[is_ex].nunique() < 2:
        ctx.console.print("  [yellow]the external set has one class only: it is not "
                          "evaluated[/yellow]")
        is_ex = np.zeros_like(is_ex)
    sides = [("testing", is_te, "test")] + ([("external", is_ex, "external")]
                                            if is_ex.any() else [])
    rows, hl_rows, cal_rows = [], [], []
    oof = {name: f["oof"].to_numpy(dtype=float)[is_tr] for name, f in frames.items()
           if "oof" in f and f["oof"][is_tr].notna().all()}
    for name, f in frames.items():
        prob = f["prob"].to_numpy(dtype=float)
        external = ({"y_external": label[is_ex], "s_external": prob[is_ex]}
                    if is_ex.any() else {})
        rows.append(performance_rows(name, label[is_tr], prob[is_tr], label[is_te],
                                     prob[is_te], s_train_oof=oof.get(name),
                                     label_apparent=True, **external))
        for side, mask in (("training", is_tr), *((sd, m) for sd, m, _ in sides)):
            hl_rows.append(_hosmer_lemeshow_row(name, side, label[mask], prob[mask]))
        if name in oof:  # training calibration only on honest (out-of-fold) scores
            cal_rows.append(_calibration_row(name, "training (out-of-fold)",
                                             label[is_tr], oof[name]))
        for side, mask, _ in sides:
            cal_rows.append(_calibration_row(name, side, label[mask], prob[mask]))
    excluded = len(next(iter(preds.values()))) - len(common)
    apparent_only = [n for n in frames if n not in oof]
    run.write_table(rows_by_set(pd.concat(rows, ignore_index=True)), "table7_all_models",
                    title="Table 7. Performance of all models",
                    note=f"Evaluated on the {len(common)} cases every model could score "
                         f"({int(is_tr.sum())} training, {int(is_te.sum())} testing"
                         + (f", {int(is_ex.sum())} external" if is_ex.any() else "")
                         + (f"; {excluded} excluded" if excluded else "") + "). Training "
                         "rows: *apparent* = the model scoring the cases it was fitted on "
                         "(optimistic); *out-of-fold* = each training case scored by a model "
                         "fitted without its patient (grouped cross-validation), the honest "
                         "training estimate. Cut-offs (Youden) chosen on the out-of-fold "
                         "training scores where a model has them, else on the apparent ones"
                         + (f" ({', '.join(apparent_only)})" if apparent_only else "")
                         + ", and applied unchanged to the test"
                         + (" and external sets" if is_ex.any() else " set") + ". "
                         + ("Deep Learning = the mean of the fold CNNs (the score the "
                            "fusion uses; Table 5 shows the CNN trained on all training "
                            "cases). " if Model.DEEP.label in oof else "")
                         + (ctx.note() or ""))
    _patient_ci_table(ctx, frames, oof, is_tr, sides)
    run.write_table(pd.DataFrame(hl_rows), "hosmer_lemeshow",
                    title="Hosmer-Lemeshow tests (g = 10; df = groups formed - 2)")
    run.write_table(pd.DataFrame(cal_rows), "calibration_summary",
                    title="Calibration intercept and slope",
                    note="Calibration-in-the-large: intercept with the slope fixed at 1 (0 = "
                         "mean risk right; > 0 = risks too low). Calibration slope: 1 = "
                         "ideal, < 1 = predictions too extreme (overfitting), > 1 = too "
                         "modest. Wald 95% CIs. Brier, Emax and Eavg as rms::val.prob "
                         "(lowess calibration curve). Training rows use out-of-fold scores; "
                         "apparent scores say nothing about calibration.")
    if is_ex.any():
        _cutoff_transfer_table(ctx, frames, oof, label, is_tr, is_ex)
    for side, mask, tag in (("training", is_tr, "train"), *sides):
        curves = {k: (label[mask], f["prob"].to_numpy(dtype=float)[mask])
                  for k, f in frames.items()}
        roc_figure(curves, title=f"ROC curves, {side} set", path=run.figure(f"roc_all_{tag}"))
        decision_curve_figure(curves, title=f"Decision curves, {side} set",
                              path=run.figure(f"dca_{tag}"))
        calibration_figure(curves, title=f"Calibration, {side} set",
                           path=run.figure(f"calibration_{tag}"))
    for side, mask, tag in sides:
        _delong_tables(ctx, label[mask].to_numpy(),
                       {k: f["prob"].to_numpy(dtype=float)[mask] for k, f in frames.items()},
                       tag, f"{side} set")
    # the training comparison only on honest scores: apparent AUCs of 1.000 test nothing
    _delong_tables(ctx, label[is_tr].to_numpy(), oof, "train",
                   "training set, out-of-fold scores")
    comparator_tables(ctx, frames)


def _cutoff_transfer_table(ctx: StudyContext, frames: dict, oof: dict, label: pd.Series,
                           is_tr: np.ndarray, is_ex: np.ndarray) -> None:
    """How far each model's training cut-off fails to transfer to the external set: its
    sensitivity/specificity there at the training cut-off (what a user of the model gets)
    beside those at the external set's own Youden cut-off (the best it could have had,
    chosen on the evaluation cases, so for comparison only)."""
    from sonomics.evaluation._checks import DegenerateInputError
    from sonomics.evaluation.metrics import binary_metrics, youden_point, youden_threshold

    rows = []
    y_tr, y_ex = label[is_tr].to_numpy(), label[is_ex].to_numpy()
    for name, f in frames.items():
        prob = f["prob"].to_numpy(dtype=float)
        try:
            cut = youden_threshold(y_tr, oof[name] if name in oof else prob[is_tr])
            at_train = binary_metrics(y_ex, prob[is_ex], cut)
            own, sens, spec = youden_point(y_ex, prob[is_ex])
        except DegenerateInputError as exc:  # reported, never a crash or a NaN
            rows.append({"Model": name, "Training cut-off": f"not computable: {exc}"})
            continue
        rows.append({"Model": name, "Training cut-off": cut,
                     "Sensitivity (training cut-off)": at_train["sensitivity"],
                     "Specificity (training cut-off)": at_train["specificity"],
                     "External Youden cut-off": own,
                     "Sensitivity (external cut-off)": sens,
                     "Specificity (external cut-off)": spec,
                     "Youden index lost": (sens + spec) - (at_train["sensitivity"]
                                                           + at_train["specificity"])})
    ctx.run.write_table(pd.DataFrame(rows), "cutoff_transfer",
                        title="Cut-off transfer to the external set",
                        note="The training cut-off (Youden, on out-of-fold training scores "
                             "where a model has them) applied to the external set, beside "
                             "the external set's own Youden cut-off. The latter is chosen on "
                             "the evaluation cases themselves: it shows how far the cut-off "
                             "fails to transfer, and is never a result to quote.")


def _patient_ci_table(ctx: StudyContext, frames: dict, oof: dict, is_tr, sides) -> None:
    """Table 7b: image-level (DeLong) and patient-level (bootstrap) AUC intervals, when
    a set holds several images of one patient (then DeLong's interval is too narrow)."""
    from sonomics.evaluation.clustered import patient_bootstrap_auc_ci
    from sonomics.evaluation.delong import auc_delong
    from sonomics.evaluation.metrics import format_ci

    first = next(iter(frames.values()))
    groups = ctx.groups().reindex(first.index)
    label = first["label"].astype(int).to_numpy()
    sets = [(side, mask, {k: f["prob"].to_numpy(float)[mask] for k, f in frames.items()})
            for side, mask, _ in sides]
    sets.append(("training (out-of-fold)", is_tr, oof))
    rows = []
    for side, mask, scores in sets:
        g = groups.to_numpy()[mask]
        if len(set(g)) == len(g):
            continue  # one image per patient: DeLong's interval is the patient-level one
        for name, score in scores.items():
            auc, lo, hi = auc_delong(label[mask], score)
            _, blo, bhi = patient_bootstrap_auc_ci(label[mask], score, g,
                                                   seed=ctx.config.seed)
            rows.append({"Model": f"{name}-{side}", "Images": int(mask.sum()),
                         "Patients": len(set(g)), "AUC": auc,
                         "95% CI (DeLong, images)": format_ci(lo, hi),
                         "95% CI (bootstrap, patients)": format_ci(blo, bhi)})
    if rows:
        ctx.run.write_table(pd.DataFrame(rows), "table7b_patient_ci",
                            title="Table 7b. AUC with patient-level uncertainty",
                            note="Several images of one patient are not independent: the "
                                 "patient-level interval resamples whole patients (2,000 "
                                 f"seeded bootstrap samples, seed {ctx.config.seed}); quote "
                                 "it rather than the image-level DeLong interval.")


def _delong_tables(ctx: StudyContext, y, scores: dict, tag: str, side: str) -> None:
    """Pairwise DeLong tests (raw and Holm-adjusted p) and the p-value heat map."""
    from sonomics.evaluation.delong import delong_pairs, pairs_matrix
    from sonomics.evaluation.plots import delong_heatmap

    if len(scores) < 2:
        return
    pairs = delong_pairs(y, scores)
    ctx.run.write_table(pairs, f"delong_{tag}", title=f"DeLong tests, {side}",
                        note=f"{len(pairs)} pairwise tests: read conclusions from the "
                             "Holm-adjusted p-values (family-wise error 5%), not the raw ones.")
    delong_heatmap(pairs_matrix(pairs, list(scores)), title=f"DeLong test p-values (raw), {side}",
                   path=ctx.run.figure(f"delong_{tag}"))


EVALUATION = Stage(
    "evaluation", evaluation,
    "Comparison of all models (Table 7, ROC, DCA, calibration, DeLong)",
    needs=("clinical", "radiomics_model", "deep", "fusion", "nomogram", "comparators"),
    writes=("tables/table7_all_models.*", "tables/table7b_patient_ci.*",
            "tables/hosmer_lemeshow.*", "tables/calibration_summary.*", "tables/delong_*",
            "tables/table8_comparators.*", "tables/cutoff_transfer.*",
            "figures/roc_all_*.png", "figures/dca_*.png",
            "figures/calibration_*.png", "figures/delong_*.png",
            "figures/roc_comparators_test.png"),
    outline=Section("Comparison of all models", (
        table("table7_all_models", "Table 7. Performance of all models"),
        table("table7b_patient_ci", "Table 7b. AUC with patient-level uncertainty"),
        figure("roc_all_train", "Figure 7A. ROC curves, training set"),
        figure("roc_all_test", "Figure 7B. ROC curves, testing set"),
        figure("roc_all_external", "Figure 7C. ROC curves, external set"),
        figure("dca_train", "Figure 8A. Decision curves, training set"),
        figure("dca_test", "Figure 8B. Decision curves, testing set"),
        figure("dca_external", "Figure 8C. Decision curves, external set"),
        figure("delong_train", "Supplementary Figure 7A. DeLong test p-values, training set "
                               "(out-of-fold scores)"),
        figure("delong_test", "Supplementary Figure 7B. DeLong test p-values, testing set"),
        figure("delong_external", "Supplementary Figure 7C. DeLong test p-values, "
                                  "external set"),
        figure("calibration_train", "Supplementary Figure 8A. Calibration, training set"),
        figure("calibration_test", "Supplementary Figure 8B. Calibration, testing set"),
        figure("calibration_external", "Supplementary Figure 8C. Calibration, external set"),
        table("calibration_summary", "Calibration intercept and slope (with 95% CI)"),
        table("cutoff_transfer", "Cut-off transfer to the external set"),
        table("hosmer_lemeshow", "Hosmer-Lemeshow tests"),
        table("delong_test", "DeLong tests, testing set (raw and Holm-adjusted p)"),
        table("delong_external", "DeLong tests, external set (raw and Holm-adjusted p)"),
        table("delong_train", "DeLong tests, training set, out-of-fold scores (raw and "
                              "Holm-adjusted p)"),
    )))
