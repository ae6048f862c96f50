"""Baseline tables: Table 1 (counts by class/subtype) and Table 2 (clinical variables).

Table 2 compares training vs testing set (is the split unbiased?) and benign vs
malignant (which factors differ?), as in the paper's section 2.8:

* continuous variables: Shapiro-Wilk in every group; if all groups look normal
  (p >= 0.05) the variable is shown as mean ± SD and compared with Student's
  t-test, or Welch's t-test when Levene's test rejects equal variances
  (p < 0.05); otherwise median (IQR) and the Mann-Whitney U test (two-sided);
* categorical variables: n (%) per level and Pearson's χ² test (scipy, with
  Yates' continuity correction on 2x2 tables, as R's ``chisq.test``); Fisher's
  exact test when an expected count is below 5 (scipy's exact R×C version).

Missing values are left out of the summaries and tests; their count is shown
on a ``missing`` row so nothing disappears silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sonomics.evaluation.metrics import format_p

NORMALITY_ALPHA = 0.05
LEVENE_ALPHA = 0.05


@dataclass(frozen=True)
class TestResult:
    """A p-value with the name of the test that produced it."""

    p: float
    test: str


def compare_continuous(groups: list[np.ndarray]) -> tuple[TestResult, bool]:
    """Two-group comparison of a continuous variable; returns (result, looks_normal)."""
    groups = [np.asarray(g, dtype=float)[~np.isnan(np.asarray(g, dtype=float))] for g in groups]
    if any(len(g) < 3 for g in groups):
        return TestResult(float("nan"), "too few values"), False
    normal = all(stats.shapiro(g).pvalue >= NORMALITY_ALPHA for g in groups
                 if np.ptp(g) > 0)
    if normal:
        equal_var = stats.levene(*groups).pvalue >= LEVENE_ALPHA
        p = stats.ttest_ind(*groups, equal_var=equal_var).pvalue
        return TestResult(float(p), "t-test" if equal_var else "Welch t-test"), True
    p = stats.mannwhitneyu(*groups, alternative="two-sided").pvalue
    return TestResult(float(p), "Mann-Whitney U"), False


def compare_categorical(table: np.ndarray, seed: int = 0) -> TestResult:
    """χ² (Yates on 2x2) or Fisher's exact test when an expected count is < 5."""
    table = np.asarray(table, dtype=int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return TestResult(1.0, "χ² (one level)")
    expected = stats.contingency.expected_freq(table)
    if (expected < 5).any():
        if table.shape == (2, 2) or table.sum() <= 300:
            return TestResult(float(stats.fisher_exact(table).pvalue), "Fisher exact")
        method = stats.MonteCarloMethod(n_resamples=20_000, rng=np.random.default_rng(seed))
        return TestResult(float(stats.fisher_exact(table, method=method).pvalue),
                          "Fisher exact (Monte Carlo)")
    return TestResult(float(stats.chi2_contingency(table, correction=True).pvalue), "χ²")


def summarise_continuous(values: np.ndarray, normal: bool) -> str:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return "–"
    if normal:
        return f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return f"{med:.2f} ({q1:.2f}–{q3:.2f})"


def table1(table: pd.DataFrame, subtype: str | None = "subtype") -> pd.DataFrame:
    """Counts by class, and by subtype within class when a subtype column is filled."""
    names = table["label"].astype(int).map({0: "Benign", 1: "Malignant"})
    rows = []
    for cls in ("Benign", "Malignant"):
        part = table[names == cls]
        rows.append({"Class": cls, "Subtype": "All", "Number": len(part),
                     "Percent": f"{100 * len(part) / max(len(table), 1):.1f}"})
        if subtype and subtype in table and part[subtype].notna().any():
            counts = part[subtype].fillna("unknown").value_counts()
            for name, n in counts.items():
                rows.append({"Class": cls, "Subtype": str(name), "Number": int(n),
                             "Percent": f"{100 * n / max(len(part), 1):.1f}"})
    return pd.DataFrame(rows)


def table2(table: pd.DataFrame, by: pd.Series, group_names: list[str],
           continuous: list[str], categorical: list[str], include_all: bool = True,
           ) -> pd.DataFrame:
    """Clinical variables by group (``by`` holds each row's group name) with p-values.

    ``group_names`` gives the two groups compared, in column order; with
    ``include_all`` an "All" column is shown first (train/test table).
    """
    if len(group_names) != 2:
        raise ValueError("table2 compares exactly two groups")
    masks = {g: (by == g).to_numpy() for g in group_names}
    columns = (["All"] if include_all else []) + list(group_names)
    header = {c: f"{c} (n={len(table) if c == 'All' else int(masks[c].sum())})"
              for c in columns}
    rows: list[dict[str, object]] = []

    for var in continuous:
        values = table[var].to_numpy(dtype=float)
        result, normal = compare_continuous([values[masks[g]] for g in group_names])
        row = {"Variable": var, "Level": "mean ± SD" if normal else "median (IQR)"}
        for c in columns:
            sel = values if c == "All" else values[masks[c]]
            row[header[c]] = summarise_continuous(sel, normal)
        row.update({"P": _p(result.p), "Test": result.test})
        rows.append(row)
        _missing_row(rows, var, np.isnan(values), columns, header, masks)

    for var in categorical:
        values = table[var]
        levels = sorted(values.dropna().unique(), key=str)
        counts = np.array([[int(((values == lv).to_numpy() & masks[g]).sum())
                            for lv in levels] for g in group_names])
        result = compare_categorical(counts)
        rows.append({"Variable": var, "Level": "", **{header[c]: "" for c in columns},
                     "P": _p(result.p), "Test": result.test})
        for lv in levels:
            row = {"Variable": "", "Level": str(lv)}
            for c in columns:
                sel = np.ones(len(values), bool) if c == "All" else masks[c]
                n_valid = int((values.notna().to_numpy() & sel).sum())
                n = int(((values == lv).to_numpy() & sel).sum())
                row[header[c]] = f"{n} ({100 * n / max(n_valid, 1):.1f})"
            row.update({"P": "", "Test": ""})
            rows.append(row)
        _missing_row(rows, var, values.isna().to_numpy(), columns, header, masks)
    return pd.DataFrame(rows, columns=["Variable", "Level", *header.values(), "P", "Test"])


def _missing_row(rows, var, missing, columns, header, masks) -> None:
    if not missing.any():
        return
    row = {"Variable": "", "Level": "missing"}
    for c in columns:
        sel = np.ones(len(missing), bool) if c == "All" else masks[c]
        row[header[c]] = str(int((missing & sel).sum()))
    row.update({"P": "", "Test": "excluded from the test"})
    rows.append(row)


def _p(p: float) -> str:
    if np.isnan(p):
        return "–"
    return format_p(p)
