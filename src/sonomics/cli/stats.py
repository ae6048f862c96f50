"""``sonomics stats``: the evaluation statistics for predictions made anywhere.

A user with a CSV of labels and scores (from sonomics or any other tool) gets
the same numbers as the study report: AUC with DeLong CI and the Youden
cut-off (``roc``), the paired DeLong test (``compare``), the six ICC forms
(``icc``), Hosmer-Lemeshow (``hl``), rms::val.prob calibration intercept/slope,
Brier, C and Emax/Eavg (``calibration``), decision curves (``dca``) and
rms-style nomogram points (``nomogram``). Each prints
a table, or JSON with ``--json``. Labels may be 0/1 or benign/malignant.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from sonomics.data.manifest import BINARY_LABELS, normalise_label
from sonomics.errors import err_console, fail
from sonomics.evaluation.calibration import hosmer_lemeshow
from sonomics.evaluation.dca import decision_curves
from sonomics.evaluation.delong import auc_delong, delong_test
from sonomics.evaluation.icc import icc_forms_table
from sonomics.evaluation.metrics import DegenerateInputError, youden_point

app = typer.Typer(
    name="stats",
    help="Evaluation statistics (pROC/psych-equal) on a CSV of labels and predictions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)



def _fail(message: str) -> None:
    raise fail(message)


def _read(csv: Path, columns: list[str]) -> pd.DataFrame:
    if not csv.is_file():
        _fail(f"{csv}: file not found")
    try:
        df = pd.read_csv(csv)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        _fail(f"{csv}: not a readable CSV ({exc})")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        _fail(f"{csv}: column(s) {missing} not found; available: {list(df.columns)}")
    return df


def _labels(df: pd.DataFrame, col: str) -> np.ndarray:
    text = df[col].astype(str).str.strip().str.lower()
    labels = [normalise_label(v, BINARY_LABELS) for v in text]
    unknown = sorted({v for v, lab in zip(text, labels, strict=True) if lab is None})
    if unknown:
        _fail(f"--label {col}: values {unknown[:5]} are not 0/1 or benign/malignant")
    return np.asarray(labels, dtype=int)


def _scores(df: pd.DataFrame, col: str, option: str) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce")
    if values.isna().any():
        _fail(f"{option} {col}: {int(values.isna().sum())} missing or non-numeric value(s)")
    return values.to_numpy(dtype=float)


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _emit(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    rows = [{k: _clean(v) for k, v in r.items()} for r in rows]
    if as_json:
        typer.echo(json.dumps(rows if len(rows) != 1 else rows[0], indent=2))
        return
    def fmt(v: Any) -> str:
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    table = Table(title=title)
    if len(rows) == 1:  # one result: a vertical statistic/value table never truncates
        table.add_column("statistic")
        table.add_column("value", justify="right")
        for key, v in rows[0].items():
            table.add_row(str(key), fmt(v))
    else:
        for key in rows[0]:
            table.add_column(str(key), overflow="fold")
        for r in rows:
            table.add_row(*[fmt(v) for v in r.values()])
    Console(width=max(100, 14 * len(rows[0]))).print(table)


def _guard(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except (DegenerateInputError, ValueError) as exc:
        _fail(str(exc))


@app.command("roc")
def roc_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per case"),
    label: str = typer.Option(..., "--label", help="label column (0/1 or benign/malignant)"),
    score: str = typer.Option(..., "--score", help="score column (higher = malignant)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """AUC with DeLong 95% CI and the Youden cut-off with its sensitivity/specificity."""
    df = _read(csv, [label, score])
    y, s = _labels(df, label), _scores(df, score, "--score")
    auc, lo, up = _guard(auc_delong, y, s)
    threshold, sens, spec = _guard(youden_point, y, s)
    _emit([{"score": score, "n_malignant": int(y.sum()), "n_benign": int((1 - y).sum()),
            "auc": auc, "ci_lower": lo, "ci_upper": up, "youden_threshold": threshold,
            "sensitivity": sens, "specificity": spec}], "ROC (DeLong CI)", as_json)


@app.command("compare")
def compare_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per case"),
    label: str = typer.Option(..., "--label", help="label column"),
    score: list[str] = typer.Option(..., "--score", help="score columns (two or more)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Paired DeLong test between every two scores on the same cases."""
    if len(score) < 2:
        _fail("--score: give at least two score columns to compare")
    df = _read(csv, [label, *score])
    y = _labels(df, label)
    values = {c: _scores(df, c, "--score") for c in score}
    rows = []
    for i, a in enumerate(score):
        for b in score[i + 1:]:
            t = _guard(delong_test, y, values[a], values[b])
            rows.append({"score_a": a, "score_b": b, "auc_a": t.auc_a, "auc_b": t.auc_b,
                         "z": t.z, "p": t.p})
    _emit(rows, "Paired DeLong test", as_json)


@app.command("icc")
def icc_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per subject"),
    subject: str = typer.Option(..., "--subject", help="subject id column"),
    rater1: str = typer.Option(..., "--rater1", help="first reader's measurement column"),
    rater2: str = typer.Option(..., "--rater2", help="second reader's measurement column"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """All six ICC forms with 95% bounds, as psych::ICC."""
    df = _read(csv, [subject, rater1, rater2])
    if df[subject].duplicated().any():
        _fail(f"--subject {subject}: duplicated subject ids; one row per subject expected")
    ratings = np.column_stack([_scores(df, rater1, "--rater1"), _scores(df, rater2, "--rater2")])
    table = _guard(icc_forms_table, ratings)
    _emit(table.to_dict(orient="records"), "Intraclass correlation", as_json)


@app.command("hl")
def hl_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per case"),
    label: str = typer.Option(..., "--label", help="label column"),
    prob: str = typer.Option(..., "--prob", help="predicted probability column"),
    groups: int = typer.Option(10, "--groups", help="number of quantile groups"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Hosmer-Lemeshow goodness of fit (df = groups formed - 2)."""
    df = _read(csv, [label, prob])
    res = _guard(hosmer_lemeshow, _labels(df, label), _scores(df, prob, "--prob"), groups)
    _emit([{"statistic": res.statistic, "df": res.df, "p": res.p, "groups": res.groups}],
          "Hosmer-Lemeshow", as_json)


@app.command("calibration")
def calibration_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per case"),
    label: str = typer.Option(..., "--label", help="label column"),
    prob: str = typer.Option(..., "--prob", help="predicted probability column"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Calibration on new data, as R's rms::val.prob: intercept and slope (0 and 1 when
    perfectly calibrated; slope < 1 = too extreme), Brier, C, Emax/E90/Eavg."""
    from sonomics.evaluation.validation import val_prob  # statsmodels: only when asked

    df = _read(csv, [label, prob])
    res = _guard(val_prob, _labels(df, label), _scores(df, prob, "--prob"))
    _emit([res], "Calibration (rms::val.prob)", as_json)


@app.command("dca")
def dca_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per case"),
    label: str = typer.Option(..., "--label", help="label column"),
    prob: list[str] = typer.Option(..., "--prob", help="predicted probability column(s)"),
    step: float = typer.Option(0.05, "--step", help="threshold spacing"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Net benefit against threshold probability, with treat-all and treat-none."""
    if not 0 < step < 1:
        _fail(f"--step: must lie in (0, 1), got {step}")
    df = _read(csv, [label, *prob])
    y = _labels(df, label)
    thresholds = np.round(np.arange(step, 1.0 - 1e-9, step), 10)
    curves = _guard(decision_curves, y, {p: _scores(df, p, "--prob") for p in prob}, thresholds)
    _emit(curves.to_dict(orient="records"), "Decision curve (net benefit)", as_json)


@app.command("nomogram")
def nomogram_cmd(
    csv: Path = typer.Argument(..., help="CSV with one row per patient"),
    label: str = typer.Option(..., "--label", help="label column"),
    predictor: list[str] = typer.Option(..., "--predictor", help="numeric predictor column(s)"),
    figure: Path | None = typer.Option(None, "--figure", help="also draw the nomogram (PNG)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Fit a logistic model and print its coefficients and rms-style nomogram points.

    Maximum likelihood as rms::lrm; when the data separate the classes, Firth's penalised
    likelihood (as R's brglm2/logistf), and the output says so (JSON: fit_method, notes).
    """
    from sonomics.models.nomogram import fit_nomogram

    df = _read(csv, [label, *predictor])
    y = _labels(df, label)
    data = pd.DataFrame({p: _scores(df, p, "--predictor") for p in predictor})
    nom, fit = _guard(fit_nomogram, data, y, list(predictor))
    if figure is not None:
        nom.figure(path=figure)
    coefficients = [{"term": "(intercept)" if t == "const" else t, "coefficient": c,
                     "se": se, "p": p} for t, c, se, p in zip(
                         fit.params.index, fit.params, fit.bse, fit.pvalues, strict=True)]
    points = nom.points_table().to_dict(orient="records")
    if as_json:
        typer.echo(json.dumps({"fit_method": fit.method, "notes": fit.notes,
                               "coefficients": [{k: _clean(v) for k, v in r.items()}
                                                for r in coefficients],
                               "points": [{k: _clean(v) for k, v in r.items()}
                                          for r in points]}, indent=2))
        return
    for note in fit.notes:
        err_console.print(f"[yellow]note:[/yellow] {note}")
    _emit(coefficients, f"Coefficients ({fit.method})", False)
    _emit(points, "Nomogram points", False)
