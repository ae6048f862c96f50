"""`sonomics stats` sub-app: each command prints R-equal numbers, JSON on request, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sonomics.cli.stats import app

GOLD = Path(__file__).parent / "fixtures" / "r-gold"
runner = CliRunner()


@pytest.fixture(scope="module")
def roc_csv(tmp_path_factory) -> tuple[Path, pd.Series]:
    scores = pd.read_csv(GOLD / "roc_scores.csv")
    expected = pd.read_csv(GOLD / "roc_expected.csv").set_index("set").loc[1]
    path = tmp_path_factory.mktemp("stats") / "scores.csv"
    d = scores[scores["set"] == 1].copy()
    d["y"] = d["y"].map({0: "benign", 1: "Malignant"})
    d.to_csv(path, index=False)
    return path, expected


def _json(result) -> dict | list:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_roc_json_equals_proc(roc_csv):
    path, e = roc_csv
    out = _json(runner.invoke(app, ["roc", str(path), "--label", "y", "--score", "a", "--json"]))
    assert out["auc"] == pytest.approx(e["auc_a"], abs=1e-6)
    assert out["ci_lower"] == pytest.approx(e["ci_low_a"], abs=1e-6)
    assert out["youden_threshold"] == pytest.approx(e["youden_threshold_a"], abs=1e-6)
    assert out["sensitivity"] == pytest.approx(e["youden_sens_a"], abs=1e-6)


def test_roc_prints_a_table(roc_csv):
    path, _ = roc_csv
    result = runner.invoke(app, ["roc", str(path), "--label", "y", "--score", "a"])
    assert result.exit_code == 0 and "youden_threshold" in result.stdout
    assert "0.853333" in result.stdout


def test_compare_json_equals_proc(roc_csv):
    path, e = roc_csv
    out = _json(runner.invoke(app, ["compare", str(path), "--label", "y", "--score", "a",
                                    "--score", "b", "--json"]))
    assert out["z"] == pytest.approx(e["delong_z"], abs=1e-6)
    assert out["p"] == pytest.approx(e["delong_p"], abs=1e-6)


def test_icc_json_equals_psych(tmp_path):
    ratings = pd.read_csv(GOLD / "icc_ratings.csv")
    expected = pd.read_csv(GOLD / "icc_expected.csv")
    ratings[ratings["feature"] == "f3"].to_csv(tmp_path / "r.csv", index=False)
    out = _json(runner.invoke(app, ["icc", str(tmp_path / "r.csv"), "--subject", "subject",
                                    "--rater1", "reader1", "--rater2", "reader2", "--json"]))
    e = expected[expected["feature"] == "f3"].set_index("type")
    assert [r["type"] for r in out] == list(e.index)
    for r in out:
        assert r["ICC"] == pytest.approx(e.loc[r["type"], "icc"], abs=1e-6)
        assert r["lower bound"] == pytest.approx(e.loc[r["type"], "lower"], abs=1e-6)


def test_calibration_json_equals_rms_val_prob(tmp_path):
    data = pd.read_csv(GOLD / "calibration_input.csv").query("set == 3")
    e = pd.read_csv(GOLD / "calibration_expected.csv").set_index("set").loc[3]
    data.to_csv(tmp_path / "p.csv", index=False)
    out = _json(runner.invoke(app, ["calibration", str(tmp_path / "p.csv"), "--label", "y",
                                    "--prob", "p", "--json"]))
    for key in ("intercept", "slope", "brier", "c_index", "emax", "eavg"):
        assert out[key] == pytest.approx(e[key], abs=1e-6), key
    assert out["slope"] < 1  # this pattern's predictions are too extreme


def test_hl_json_equals_r(tmp_path):
    data = pd.read_csv(GOLD / "hosmer_lemeshow_input.csv")
    e = pd.read_csv(GOLD / "hosmer_lemeshow_expected.csv").set_index("set").loc[2]
    data[data["set"] == 2].to_csv(tmp_path / "p.csv", index=False)
    out = _json(runner.invoke(app, ["hl", str(tmp_path / "p.csv"), "--label", "y",
                                    "--prob", "p", "--json"]))
    assert out["statistic"] == pytest.approx(e["statistic"], abs=1e-6)
    assert out["df"] == 8 and out["p"] == pytest.approx(e["p_value"], abs=1e-6)


def test_dca_json_has_model_and_reference_strategies(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.uniform(size=100)
    pd.DataFrame({"y": rng.binomial(1, p), "p": p}).to_csv(tmp_path / "d.csv", index=False)
    out = _json(runner.invoke(app, ["dca", str(tmp_path / "d.csv"), "--label", "y",
                                    "--prob", "p", "--step", "0.1", "--json"]))
    assert len(out) == 9 and set(out[0]) == {"threshold", "all", "none", "p"}


def test_errors_are_one_clear_line(tmp_path, roc_csv):
    path, _ = roc_csv
    result = runner.invoke(app, ["roc", str(path), "--label", "y", "--score", "nope"])
    assert result.exit_code == 1 and "['nope'] not found" in result.output
    pd.DataFrame({"y": [1, 1, 1], "s": [0.1, 0.2, 0.3]}).to_csv(tmp_path / "one.csv", index=False)
    result = runner.invoke(app, ["roc", str(tmp_path / "one.csv"), "--label", "y", "--score", "s"])
    assert result.exit_code == 1 and "each class" in result.output
    result = runner.invoke(app, ["roc", str(tmp_path / "missing.csv"), "--label", "y",
                                 "--score", "s"])
    assert result.exit_code == 1 and "file not found" in result.output
