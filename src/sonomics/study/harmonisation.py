"""Harmonisation by site in the study: the ComBat step each feature family fits, and the
site effects before and after it (table and figure), on training data and, where the
cohort has one, across training and external sites."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sonomics.selection.harmonisation import SiteHarmoniser
from sonomics.study.context import StudyContext


def harmoniser_for(ctx: StudyContext) -> SiteHarmoniser | None:
    """The unfitted ComBat step of a family's selection chain, or None when harmonisation
    is off. Every case's site goes in (sites are metadata; fitting sees training rows)."""
    cfg = ctx.config.harmonisation
    if not cfg.enabled:
        return None
    table = ctx.cohort().usable()
    if "site" not in table or table["site"].isna().all():
        raise ValueError("harmonisation.enabled needs a site per case: the manifest has no "
                         f"'{ctx.config.data.site}' column (data.site names it)")
    missing = table.index[table["site"].isna()]
    if len(missing):
        raise ValueError(f"case {missing[0]}, field 'site': empty; harmonisation needs the "
                         f"site of every case ({len(missing)} case(s) lack one)")
    from sonomics.deep.oof import OOF_SCORE

    # a CNN's score is never harmonised; its PCA features only with harmonisation.deep
    exclude = (OOF_SCORE,) if cfg.deep else ("deep_",)
    return SiteHarmoniser(sites={str(k): str(v) for k, v in table["site"].items()},
                          exclude_prefixes=exclude, mean_only=cfg.mean_only,
                          unseen_site=cfg.unseen_site, min_site_cases=cfg.min_site_cases)


def site_effect_pvalues(features: pd.DataFrame, sites: pd.Series) -> pd.Series:
    """Kruskal-Wallis p-value of each feature across sites (NaN for a constant feature)."""
    from scipy.stats import kruskal

    groups = [features[(sites == s).to_numpy()] for s in sorted(sites.unique())]
    out = {}
    for col in features.columns:
        samples = [g[col].to_numpy(dtype=float) for g in groups]
        try:
            out[col] = float(kruskal(*samples).pvalue)
        except ValueError:  # every value identical
            out[col] = np.nan
    return pd.Series(out, name="p")


def write_site_effects(ctx: StudyContext, model: Any, X_train: pd.DataFrame,
                       X_external: pd.DataFrame | None, name: str, label: str) -> str:
    """Site effects before/after the fitted ComBat of a family's stored model; returns a
    sentence for the family's table note ("" when the family has no ComBat step)."""
    from sonomics.evaluation.plots import site_effect_figure

    select = model.named_steps.get("select")
    if select is None or "harmonise" not in select.named_steps:
        return ""
    step = list(select.named_steps).index("harmonise")
    harmoniser = select.named_steps["harmonise"]
    sites = pd.Series(harmoniser.sites)
    rows, curves = [], {}
    sets = [("training sites", X_train)]
    if X_external is not None and len(X_external):
        sets.append(("training and external sites", pd.concat([X_train, X_external])))
    for what, X in sets:
        site = sites.reindex(X.index.astype(str)).set_axis(X.index)
        if site.nunique() < 2:
            continue
        before = select[:step].transform(X)
        after = harmoniser.transform(before)  # pandas out, as every step of the chain
        p_before = site_effect_pvalues(before, site)
        p_after = site_effect_pvalues(after, site)
        curves[what] = (p_before, p_after)
        rows.append({"Sites compared": what, "Sites": site.nunique(), "Cases": len(X),
                     "Features": int(p_before.notna().sum()),
                     "Share p < 0.05 before": float((p_before < 0.05).mean()),
                     "Share p < 0.05 after": float((p_after < 0.05).mean()),
                     "Median p before": float(p_before.median()),
                     "Median p after": float(p_after.median())})
    if not rows:
        return ""
    note = ("Kruskal-Wallis test of each feature across sites (the features entering the "
            "ComBat step, after the ICC filter). ComBat is fitted on training cases only; "
            "external sites, unseen in training, are "
            + ("brought onto the training reference with their shift estimated from their "
               "own cases (no labels)" if ctx.config.harmonisation.unseen_site == "estimate"
               else "refused") + ".")
    ctx.run.write_table(pd.DataFrame(rows), f"site_effects_{name}",
                        title=f"{label}: site effects before and after harmonisation",
                        note=note)
    site_effect_figure(curves, title=f"{label}: site effects before/after ComBat",
                       path=ctx.run.figure(f"site_effects_{name}"))
    first = rows[0]
    return (f" Harmonised by site (ComBat, fitted on training cases): features differing "
            f"across training sites (Kruskal-Wallis p < 0.05) "
            f"{first['Share p < 0.05 before']:.0%} before, "
            f"{first['Share p < 0.05 after']:.0%} after.")
