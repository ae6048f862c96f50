"""Figures of the statistics: ROC, DeLong heatmap, calibration, decision curves, LASSO.

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot
global state, no display needed: the Agg canvas renders it), returns it, and
writes it to ``path`` when one is given. They reproduce the paper's Figures
4-5 (LASSO path, CV curve, coefficients), 7 (ROC), 8 (decision curves) and
Supplementary Figures 7-8 (DeLong matrix, calibration).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from sonomics.evaluation._checks import DegenerateInputError
from sonomics.evaluation.calibration import calibration_curve, hosmer_lemeshow
from sonomics.evaluation.dca import net_benefit
from sonomics.evaluation.delong import auc_delong
from sonomics.io import save_figure

Scores = Mapping[str, tuple[Any, Any]]  # name -> (y, score)


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path, dpi=150)
    return fig


def roc_figure(curves: Scores, title: str = "ROC", path: str | Path | None = None) -> Figure:
    """ROC curves of several models (or one model on training and test), AUC + CI in the legend."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for name, (y, score) in curves.items():
        auc, lo, up = auc_delong(y, score)
        fpr, tpr, _ = roc_curve(np.asarray(y).astype(int), np.asarray(score, dtype=float))
        ax.plot(fpr, tpr, lw=1.5, label=f"{name} AUC {auc:.3f} ({lo:.3f}-{up:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(xlabel="1 - Specificity", ylabel="Sensitivity", title=title, xlim=(0, 1),
           ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=7)
    return _save(fig, path)


def delong_heatmap(pvalues: pd.DataFrame, title: str = "DeLong test p-values",
                   path: str | Path | None = None) -> Figure:
    """Heatmap of a :func:`~sonomics.evaluation.delong.delong_matrix` with p printed in cells."""
    n = len(pvalues)
    fig = Figure(figsize=(1.1 * n + 2, 1.0 * n + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(pvalues.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis_r")
    ax.set_xticks(range(n), labels=list(pvalues.columns), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(pvalues.index))
    for i in range(n):
        for j in range(n):
            p = float(pvalues.iat[i, j])
            ax.text(j, i, "<0.001" if p < 0.001 else f"{p:.3f}", ha="center", va="center",
                    fontsize=7, color="white" if p < 0.5 else "black")
    fig.colorbar(im, ax=ax, label="p")
    ax.set_title(title)
    return _save(fig, path)


def calibration_figure(curves: Scores, bins: int = 10, title: str = "Calibration",
                       path: str | Path | None = None) -> Figure:
    """Observed vs predicted risk in quantile bins; the Hosmer-Lemeshow p in the legend."""
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    for name, (y, prob) in curves.items():
        cc = calibration_curve(y, prob, bins=bins)
        try:
            hl_p = hosmer_lemeshow(y, prob, groups=bins).p
            hl_text = f"HL p {'< 0.001' if hl_p < 0.001 else f'= {hl_p:.3f}'}"
        except DegenerateInputError:  # e.g. nearly all probabilities identical
            hl_text = "HL not computable"
        ax.plot(cc["mean_predicted"], cc["observed"], marker="o", ms=3,
                label=f"{name} ({hl_text})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="Ideal")
    ax.set(xlabel="Predicted probability", ylabel="Observed fraction malignant", title=title,
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=7)
    return _save(fig, path)


def decision_curve_figure(curves: Scores, title: str = "Decision curves",
                          path: str | Path | None = None) -> Figure:
    """Net benefit of each model with treat-all and treat-none."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    nb = None
    top = 0.05
    for name, (y, prob) in curves.items():
        nb = net_benefit(y, prob)
        ax.plot(nb["threshold"], nb["model"], lw=1.5, label=name)
        top = max(top, float(nb["model"].max()), float(nb["all"].max()))
    if nb is None:
        raise ValueError("curves: give at least one model")
    ax.plot(nb["threshold"], nb["all"], color="grey", lw=1, label="Treat all")
    ax.plot(nb["threshold"], nb["none"], color="black", lw=1, label="Treat none")
    ax.set(xlabel="Threshold probability", ylabel="Net benefit", title=title, xlim=(0, 1),
           ylim=(-0.05, top * 1.1))
    ax.legend(fontsize=7)
    return _save(fig, path)


def lasso_path_figure(lasso: Any, path: str | Path | None = None) -> Figure:
    """Coefficient paths against log(lambda) with the chosen lambda (paper Fig. 4A)."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    x = np.log10(lasso.alphas_)
    for coef in lasso.coef_path_:
        ax.plot(x, coef, lw=0.8)
    ax.axvline(np.log10(lasso.alpha_), ls="--", color="black",
               label=f"lambda = {lasso.alpha_:.4f}")
    ax.set(xlabel="log10(lambda)", ylabel="Coefficient", title="LASSO coefficient paths")
    ax.legend(fontsize=7)
    return _save(fig, path)


def lasso_cv_figure(lasso: Any, path: str | Path | None = None) -> Figure:
    """Mean CV mean squared error +/- 1 SE against log(lambda) (paper Fig. 4, CV curve)."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    x = np.log10(lasso.alphas_)
    mse = lasso.mse_path_.mean(axis=1)
    se = lasso.mse_path_.std(axis=1, ddof=1) / np.sqrt(lasso.mse_path_.shape[1])
    ax.errorbar(x, mse, yerr=se, fmt="o", ms=2, color="tab:red", ecolor="lightgrey")
    ax.axvline(np.log10(lasso.alpha_), ls="--", color="black")
    ax.set(xlabel="log10(lambda)", ylabel="Mean squared error (CV)",
           title="LASSO cross-validation")
    return _save(fig, path)


def lasso_coef_figure(lasso: Any, path: str | Path | None = None) -> Figure:
    """Bar chart of the selected features' coefficients (paper Fig. 4B / 5)."""
    coefs = lasso.selected_coefficients_
    fig = Figure(figsize=(6, 0.3 * len(coefs) + 1.5))
    ax = fig.add_subplot()
    colors = ["tab:red" if v > 0 else "tab:blue" for v in coefs]
    ax.barh(range(len(coefs)), coefs.to_numpy(), color=colors)
    ax.set_yticks(range(len(coefs)), labels=list(coefs.index), fontsize=7)
    ax.axvline(0, color="black", lw=0.8)
    ax.set(xlabel="Coefficient", title="Selected features")
    return _save(fig, path)


def site_effect_figure(curves: Mapping[str, tuple[pd.Series, pd.Series]],
                       title: str = "Site effects", path: str | Path | None = None) -> Figure:
    """Per set of sites compared, the cumulative share of features by Kruskal-Wallis
    p-value before and after harmonisation (a curve hugging the left = strong site
    effects; the diagonal = none)."""
    fig = Figure(figsize=(5.5 * len(curves), 4.2))
    for i, (what, (before, after)) in enumerate(curves.items(), 1):
        ax = fig.add_subplot(1, len(curves), i)
        for label, p, style in (("before", before, "-"), ("after ComBat", after, "--")):
            values = np.sort(p.dropna().to_numpy())
            share = np.arange(1, len(values) + 1) / max(len(values), 1)
            ax.step(values, share, style, where="post",
                    label=f"{label} ({np.mean(values < 0.05):.0%} with p < 0.05)")
        ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8, label="no site effect")
        ax.axvline(0.05, color="grey", lw=0.6)
        ax.set(xlabel="Kruskal-Wallis p across sites", ylabel="share of features",
               title=what, xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
