"""Firth's penalised logistic regression equals R's brglm2 (type = "AS_mean") to 1e-6, and
the fit falls back to it exactly when maximum likelihood breaks down (separation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sonomics.models.logistic import firth_logit, fit_logistic

GOLD = Path(__file__).parent / "fixtures" / "r-gold"
PREDICTORS = ["x1", "x2", "score"]


def _case(kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = pd.read_csv(GOLD / "firth_data.csv")
    expected = pd.read_csv(GOLD / "firth_expected.csv")
    return data[data["kind"] == kind], expected[expected["kind"] == kind]


@pytest.mark.parametrize("kind", ["complete", "quasi", "ordinary"])
def test_firth_estimates_and_standard_errors_equal_brglm2(kind):
    data, expected = _case(kind)
    X = np.column_stack([np.ones(len(data)), data[PREDICTORS].to_numpy(float)])
    beta, se, converged = firth_logit(X, data["y"].to_numpy())
    assert converged
    np.testing.assert_allclose(beta, expected["firth_estimate"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(se, expected["firth_se"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["complete", "quasi"])
def test_separation_falls_back_to_firth_and_says_so(kind):
    data, expected = _case(kind)
    fit = fit_logistic(data, data["y"], PREDICTORS)
    assert fit.method == "Firth penalised likelihood" and fit.notes
    np.testing.assert_allclose(fit.params.to_numpy(), expected["firth_estimate"], rtol=1e-6,
                               atol=1e-6)
    risk = fit.predict(data)
    assert np.isfinite(risk).all() and ((risk > 1e-6) & (risk < 1 - 1e-6)).any()


def test_an_ordinary_case_keeps_maximum_likelihood_as_rms_does():
    data, expected = _case("ordinary")
    fit = fit_logistic(data, data["y"], PREDICTORS)
    assert fit.method == "maximum likelihood" and not fit.notes
    np.testing.assert_allclose(fit.params.to_numpy(), expected["ml_estimate"], rtol=1e-6)


def test_stats_nomogram_reports_firth_under_separation(tmp_path):
    import json

    from typer.testing import CliRunner

    from sonomics.cli.stats import app

    data, expected = _case("complete")
    data.to_csv(tmp_path / "d.csv", index=False)
    args = ["nomogram", str(tmp_path / "d.csv"), "--label", "y", "--json"]
    for p in PREDICTORS:
        args += ["--predictor", p]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fit_method"] == "Firth penalised likelihood" and report["notes"]
    got = [r["coefficient"] for r in report["coefficients"]]
    np.testing.assert_allclose(got, expected["firth_estimate"], rtol=1e-6, atol=1e-6)
