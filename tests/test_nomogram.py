"""Nomogram points equal rms::nomogram (fixtures made by make_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sonomics.cli.stats import app
from sonomics.models.nomogram import Nomogram, fit_nomogram, r_pretty

GOLD = Path(__file__).parent / "fixtures" / "r-gold"
PREDICTORS = ["shape_irregular", "margin_poor", "posterior_enh", "dlr_score"]


@pytest.fixture(scope="module")
def fitted():
    data = pd.read_csv(GOLD / "nomogram_data.csv")
    nom, fit = fit_nomogram(data, data["y"], PREDICTORS)
    return data, nom, fit


def test_coefficients_equal_rms_lrm(fitted):
    _, nom, _ = fitted
    gold = pd.read_csv(GOLD / "nomogram_coef.csv").set_index("term")["coef"]
    assert nom.intercept == pytest.approx(gold["Intercept"], abs=1e-6)
    for p in PREDICTORS:
        assert nom.coef[p] == pytest.approx(gold[p], abs=1e-6)


def test_points_per_level_equal_rms(fitted):
    _, nom, _ = fitted
    gold = pd.read_csv(GOLD / "nomogram_points.csv")
    ours = nom.points_table()
    assert list(ours["variable"]) == list(gold["variable"])
    np.testing.assert_allclose(ours["value"], gold["value"], atol=1e-9)
    np.testing.assert_allclose(ours["points"], gold["points"], atol=0.5)
    assert np.abs(ours["points"] - gold["points"]).max() < 1e-6


def test_total_points_and_risk_equal_rms(fitted):
    data, nom, _ = fitted
    gold = pd.read_csv(GOLD / "nomogram_total_points.csv")
    ours = nom.patient_points(data)
    assert np.abs(ours["total_points"] - gold["total_points"]).max() < 1e-6
    assert np.abs(ours["risk"] - gold["risk"]).max() < 1e-6


def test_r_pretty_matches_r_examples():
    np.testing.assert_allclose(r_pretty(0, 1, 10), np.arange(0, 1.01, 0.1), atol=1e-12)
    np.testing.assert_allclose(r_pretty(-2.36, 3.004, 10), np.arange(-2.5, 3.51, 0.5))
    np.testing.assert_allclose(r_pretty(1, 99), [0, 20, 40, 60, 80, 100])


def test_largest_effect_spans_100_points_and_negative_coef_reverses_axis():
    data = pd.DataFrame({"a": [0, 1, 0, 1], "b": [0.0, 1.0, 2.0, 3.0]})
    nom = Nomogram.from_model(-1.0, {"a": -2.0, "b": 0.5}, data)
    table = nom.points_table().set_index(["variable", "value"])["points"]
    assert table[("a", 0.0)] == pytest.approx(100.0) and table[("a", 1.0)] == 0.0
    assert table[("b", 3.0)] == pytest.approx(75.0)


def test_figure_and_cli(tmp_path, fitted):
    data, nom, _ = fitted
    nom.figure(path=tmp_path / "nom.png")
    assert (tmp_path / "nom.png").stat().st_size > 1000
    data.to_csv(tmp_path / "d.csv", index=False)
    args = ["nomogram", str(tmp_path / "d.csv"), "--label", "y", "--json"]
    for p in PREDICTORS:
        args += ["--predictor", p]
    result = CliRunner().invoke(app, [*args, "--figure", str(tmp_path / "cli.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fit_method"] == "maximum likelihood" and report["notes"] == []
    gold = pd.read_csv(GOLD / "nomogram_points.csv")
    rows = report["points"]
    assert np.abs(np.array([r["points"] for r in rows]) - gold["points"]).max() < 1e-6
    coef = pd.read_csv(GOLD / "nomogram_coef.csv").set_index("term")["coef"]
    ours = {r["term"]: r["coefficient"] for r in report["coefficients"]}
    assert ours["(intercept)"] == pytest.approx(coef["Intercept"], abs=1e-6)
    assert (tmp_path / "cli.png").exists()


def test_points_beyond_the_axis_extend_linearly_so_risk_equals_the_model():
    import numpy as np
    import pandas as pd

    from sonomics.models.nomogram import Nomogram

    train = pd.DataFrame({"score": np.linspace(0.2, 0.8, 30), "margin": [0, 1] * 15})
    nomo = Nomogram.from_model(-3.0, {"score": 5.0, "margin": 1.2}, train)
    new = pd.DataFrame({"score": [0.05, 0.5, 0.97], "margin": [1, 0, 1]})
    risk = nomo.patient_points(new)["risk"].to_numpy()
    model = 1 / (1 + np.exp(-(-3.0 + 5.0 * new["score"] + 1.2 * new["margin"])))
    np.testing.assert_allclose(risk, model, rtol=1e-12)
