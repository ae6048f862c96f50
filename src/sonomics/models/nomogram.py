"""A nomogram for a logistic model, with the points of R's ``rms::nomogram``.

The DLRN of the paper (Fig. 6) is a logistic regression on the clinical
factors plus the DLR score. ``rms`` turns such a model into points:

* each predictor gets an axis of values: the distinct values of a binary /
  two-level factor, and for a continuous predictor ``pretty(range(x), 10)``
  (R's ``pretty``, reimplemented below) over its training range;
* its contribution is ``coef * value``; the predictor whose contribution
  varies most across its axis spans 0-100 points, every other predictor is
  scaled by the same factor, and each axis starts at 0 points at its
  least-risky value;
* a patient's total points are the sum of the per-predictor points (values
  outside an axis are clamped to its ends, as ``approx(rule = 2)``), and the
  risk is ``plogis`` of the linear predictor recovered from the total.

Parity with ``rms`` on ``tests/fixtures/r-gold/nomogram_*`` is tested (the
issue asks for 0.5 points; the implementation agrees to rounding error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sonomics.io import save_figure
from sonomics.models.logistic import LogisticFit, fit_logistic


def r_pretty(lo: float, hi: float, n: int = 5, min_n: int | None = None) -> np.ndarray:
    """Equally spaced "round" values covering [lo, hi], as R's ``pretty()`` (default biases)."""
    if min_n is None:
        min_n = n // 3
    h, h5 = 1.5, 0.5 + 1.5 * 1.5
    dx = hi - lo
    cell = max(abs(lo), abs(hi))
    if dx == 0 and hi == 0:
        cell, small = 1.0, True
    else:
        u = 1 + (1 / (1 + h) if h5 >= 1.5 * h + 0.5 else 1.5 / (1 + h5))
        u *= max(1, n) * np.finfo(float).eps
        small = dx < cell * u * 3
    if small:
        if cell > 10:
            cell = 9 + cell / 10
        cell *= 0.7
        if min_n > 1:
            cell /= min_n
    else:
        cell = dx / n if n > 1 else dx
    base = 10.0 ** math.floor(math.log10(cell))
    unit = base
    if 2 * base - cell < h * (cell - unit):
        unit = 2 * base
        if 5 * base - cell < h5 * (cell - unit):
            unit = 5 * base
            if 10 * base - cell < h * (cell - unit):
                unit = 10 * base
    ns = math.floor(lo / unit + 1e-7)
    nu = math.ceil(hi / unit - 1e-7)
    while ns * unit > lo + 1e-10 * unit:
        ns -= 1
    while nu * unit < hi - 1e-10 * unit:
        nu += 1
    k = int(0.5 + nu - ns)
    if k < min_n:
        k = min_n - k
        if ns >= 0:
            nu += k // 2
            ns -= k // 2 + k % 2
        else:
            ns -= k // 2
            nu += k // 2 + k % 2
    values = np.arange(ns, nu + 1) * unit
    return np.round(values, 12) + 0.0


@dataclass
class Nomogram:
    """Points of a fitted logistic model (see the module docstring).

    ``axes`` maps predictor -> axis values; ``coef`` holds the coefficients and
    ``intercept`` the intercept; ``scale`` is points per unit of linear predictor.
    """

    intercept: float
    coef: dict[str, float]
    axes: dict[str, np.ndarray]

    @classmethod
    def from_model(cls, intercept: float, coef: dict[str, float], data: pd.DataFrame,
                   nint: int = 10) -> Nomogram:
        """Axes from the training data of each predictor, as ``rms`` builds them."""
        axes = {}
        for name in coef:
            x = pd.to_numeric(data[name]).to_numpy(dtype=float)
            values = np.unique(x)
            if values.size <= 2:
                axes[name] = values
            else:
                axes[name] = r_pretty(float(x.min()), float(x.max()), nint)
        return cls(float(intercept), {k: float(v) for k, v in coef.items()}, axes)

    @property
    def _contrib_ranges(self) -> dict[str, tuple[float, float]]:
        out = {}
        for name, values in self.axes.items():
            c = self.coef[name] * values
            out[name] = (float(c.min()), float(c.max()))
        return out

    @property
    def scale(self) -> float:
        """Points per unit of linear predictor (100 / largest contribution range)."""
        widest = max(hi - lo for lo, hi in self._contrib_ranges.values())
        if widest <= 0:
            raise ValueError("coef: every predictor has zero effect; no nomogram to draw")
        return 100.0 / widest

    def points_table(self) -> pd.DataFrame:
        """``variable, value, points`` for every axis tick (as rms' ``nom[[v]]$points``)."""
        rows = []
        ranges = self._contrib_ranges
        for name, values in self.axes.items():
            pts = (self.coef[name] * values - ranges[name][0]) * self.scale
            rows.extend({"variable": name, "value": float(v), "points": float(p)}
                        for v, p in zip(values, pts, strict=True))
        return pd.DataFrame(rows)

    def patient_points(self, data: pd.DataFrame) -> pd.DataFrame:
        """Per-patient points for each predictor, ``total_points`` and ``risk``.

        Points are linear in each predictor, so a value beyond the drawn axis (a new
        patient outside the training range) gets the linear extension, not the end of the
        axis: the risk then equals the logistic model's, as with ``rms``' ``predict``.
        """
        ranges = self._contrib_ranges
        out = {}
        for name in self.axes:
            x = pd.to_numeric(data[name]).to_numpy(dtype=float)
            out[name] = (self.coef[name] * x - ranges[name][0]) * self.scale
        frame = pd.DataFrame(out, index=data.index)
        frame["total_points"] = frame[list(self.axes)].sum(axis=1)
        frame["risk"] = self.risk(frame["total_points"].to_numpy())
        return frame

    def probability(self, data: pd.DataFrame) -> np.ndarray:
        """Risk of malignancy of each row of ``data`` (the predictors by name)."""
        return self.patient_points(data)["risk"].to_numpy(dtype=float)

    def linear_predictor(self, total_points: np.ndarray) -> np.ndarray:
        offset = self.intercept + sum(lo for lo, _ in self._contrib_ranges.values())
        return offset + np.asarray(total_points, dtype=float) / self.scale

    def risk(self, total_points: np.ndarray) -> np.ndarray:
        """Risk of malignancy at the given total points."""
        return 1.0 / (1.0 + np.exp(-self.linear_predictor(total_points)))

    def total_points_at_risk(self, risk: np.ndarray) -> np.ndarray:
        r = np.asarray(risk, dtype=float)
        lp = np.log(r / (1 - r))
        offset = self.intercept + sum(lo for lo, _ in self._contrib_ranges.values())
        return (lp - offset) * self.scale

    def figure(self, title: str = "Nomogram", risk_label: str = "Risk of malignancy",
               path: str | Path | None = None, patient: pd.Series | None = None) -> Figure:
        """An rms-style nomogram: Points, one axis per predictor, Total Points, risk.

        ``patient`` (one row of :meth:`patient_points`) marks that patient's points on every
        axis, their total and their risk, in red, as a clinician would read them off.
        """
        table = self.points_table()
        names = list(self.axes)
        max_total = float(table.groupby("variable")["points"].max().sum())
        rows = ["Points", *names, "Total Points", risk_label]
        fig = Figure(figsize=(8, 0.6 * len(rows) + 1))
        ax = fig.add_subplot()
        ax.set_xlim(-2, 102)
        ax.set_ylim(len(rows) - 0.5, -0.8)
        ax.axis("off")

        def axis_row(i: int, pos: np.ndarray, labels: list[str], span: tuple[float, float]):
            ax.text(-4, i, rows[i], ha="right", va="center", fontsize=8)
            ax.plot(span, [i, i], color="black", lw=0.8)
            for p, lab in zip(pos, labels, strict=True):
                ax.plot([p, p], [i, i - 0.12], color="black", lw=0.8)
                ax.text(p, i - 0.18, lab, ha="center", va="bottom", fontsize=6)

        ticks = np.arange(0, 101, 10)
        axis_row(0, ticks, [str(t) for t in ticks], (0, 100))
        for i, name in enumerate(names, start=1):
            t = table[table["variable"] == name]
            axis_row(i, t["points"].to_numpy(), [f"{v:g}" for v in t["value"]],
                     (t["points"].min(), t["points"].max()))
        total_ticks = r_pretty(0.0, max_total, 10)
        total_ticks = total_ticks[total_ticks <= max_total + 1e-9]
        scale = 100.0 / max(max_total, 1e-12)
        axis_row(len(names) + 1, total_ticks * scale, [f"{v:g}" for v in total_ticks],
                 (0, 100))
        risks = np.array([0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])
        tp = self.total_points_at_risk(risks)
        ok = (tp >= 0) & (tp <= max_total)
        if ok.any():
            axis_row(len(names) + 2, tp[ok] * scale, [f"{r:g}" for r in risks[ok]],
                     (float(tp[ok].min() * scale), float(tp[ok].max() * scale)))
        if patient is not None:
            self._mark_patient(ax, patient, names, scale)
        ax.set_title(title)
        if path is not None:
            save_figure(fig, path, dpi=150)
        return fig


    def _mark_patient(self, ax, patient: pd.Series, names: list[str], scale: float) -> None:
        red = {"color": "#c0392b", "zorder": 5, "clip_on": False}
        for i, name in enumerate(names, start=1):
            x = float(patient[name])
            ax.plot([x], [i], "o", ms=6, **red)
            ax.text(x, i + 0.3, f"{x:.0f}", ha="center", va="top", fontsize=7, **red)
        total = float(patient["total_points"]) * scale
        for row in (len(names) + 1, len(names) + 2):
            ax.plot([total], [row], "v" if row == len(names) + 1 else "o", ms=7, **red)
        ax.plot([total, total], [len(names) + 1, len(names) + 2], lw=1, ls="--", **red)
        ax.text(total, len(names) + 2.35,
                f"total {float(patient['total_points']):.0f} points, risk "
                f"{float(patient['risk']):.3f}", ha="center", va="top", fontsize=8, **red)


#: the nomogram's name for the DLR model's probability
DLR_SCORE = "DLR score"


def nomogram_design(factors: pd.DataFrame, dlr_score: pd.Series) -> pd.DataFrame:
    """The nomogram's predictors per case: the clinical factors' columns and the DLR score.

    ``factors`` is what the stored clinical pipeline's factor steps give; the study builds
    its training and test rows with this function and ``sonomics predict`` a new case's.
    """
    data = factors.astype(float).copy()
    data[DLR_SCORE] = dlr_score.reindex(data.index).to_numpy(dtype=float)
    return data


def fit_nomogram(data: pd.DataFrame, y: Any, predictors: list[str], nint: int = 10
                 ) -> tuple[Nomogram, LogisticFit]:
    """Logistic regression (as ``rms::lrm``; Firth's penalised likelihood when the data
    separate the classes, see :mod:`sonomics.models.logistic`) and its nomogram.

    Returns ``(nomogram, fit)``; ``fit.method`` and ``fit.notes`` say how it was fitted.
    """
    missing = [p for p in predictors if p not in data.columns]
    if missing:
        raise ValueError(f"predictors: column(s) {missing} not in the data")
    fit = fit_logistic(data, y, predictors)
    coef = {p: float(fit.params[p]) for p in predictors}
    return Nomogram.from_model(float(fit.params["const"]), coef, data, nint), fit
