"""The whole study when one clinical predictor separates the classes.

A marker present in every malignant case and no benign one: maximum likelihood has no
finite estimate (plain ``Logit`` gave coefficients in the hundreds, test probabilities of
exactly 0 or 1 and a Hosmer-Lemeshow statistic of 6e43 before Firth's fallback). Every
logistic fit that meets it — univariable, multivariable, nomogram — must give finite
coefficients, say so in the log and in the report, and give usable probabilities.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from _study_data import tiny_config
from sonomics.data.demo import CATEGORICAL_VARIABLES
from sonomics.rundir import Model, RunDir
from sonomics.study import Study


def test_a_separating_predictor_gives_finite_fits_a_warning_and_a_report_note(tmp_path,
                                                                               caplog):
    cfg = tiny_config(tmp_path, data={"categorical": [*CATEGORICAL_VARIABLES, "marker"]})
    manifest = pd.read_csv(cfg.data.manifest)
    manifest["marker"] = np.where(manifest["label"] == "malignant", "present", "absent")
    manifest.to_csv(cfg.data.manifest, index=False)
    with caplog.at_level(logging.WARNING, logger="sonomics"):
        Study(cfg).run()
    run = RunDir(cfg.out)

    supp = run.table("supp_table1_clinical_lr").set_index("Variable")
    marker = supp.loc["marker_present"]
    assert "Firth" in marker["Note"]
    assert "level seen in one class only" in marker["Note"]  # flagged, not interpreted
    assert np.isfinite(float(marker["Univariable OR"])) and float(marker["Univariable OR"]) > 1
    assert bool(marker["Retained"])  # it does predict: Firth's p is small, not 1.000

    clinical = run.meta("clinical")
    assert "marker_present" in clinical["firth_columns"]
    assert "marker_present" in clinical["sparse_columns"]
    meta = run.meta("nomogram")
    assert meta["fit_method"] == "Firth penalised likelihood", meta
    coefs = np.array([meta["intercept"], *meta["coef"].values()], dtype=float)
    assert np.isfinite(coefs).all() and np.abs(coefs).max() < 20, meta["coef"]

    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "nomogram:" in warned and "Firth" in warned
    assert "clinical model, marker_present" in warned
    html = (cfg.out / "report.html").read_text()
    assert "Nomogram: " in html and "Firth" in html and "marker_present" in html
    assert "Clinical logistic regressions (Supplementary Table 1): separation" in html

    test = run.predictions(Model.NOMOGRAM).query("split == 'test'")
    prob = test["prob"].to_numpy(dtype=float)
    assert np.isfinite(prob).all() and ((prob > 0) & (prob < 1)).all()
    hl = run.table("hosmer_lemeshow")
    assert np.isfinite(hl.select_dtypes("number").to_numpy()).all(), hl
