"""The whole study on a tiny synthetic cohort: every stage, resume, report, bundle, predict.

One run (module fixture) with a reduced radiomics parameter file, a small CNN at
32 px and two classifiers keeps this under a minute or two on 2 cores; the full
settings are exercised by `make demo` and the benchmarks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _study_data import tiny_config
from sonomics.bundle import BundleError, load_bundle
from sonomics.predict import predict
from sonomics.study import Study


@pytest.fixture(scope="module")
def study_run(module_tmp) -> tuple[Study, Path]:
    root = module_tmp
    study = Study(tiny_config(root))
    study.run()
    return study, root


def test_every_stage_wrote_its_outputs(study_run):
    study, _ = study_run
    tables = {p.stem for p in (study.out / "tables").glob("*.csv")}
    for name in ("table1_distribution", "table2_train_test", "supp_table1_clinical_lr",
                 "table3_clinical_models", "radiomics_icc", "table4_radiomics_models",
                 "table5_deep", "table6_dlr_models", "nomogram_coefficients",
                 "table7_all_models", "hosmer_lemeshow", "calibration_summary",
                 "delong_test", "failures"):
        assert name in tables, name
    t7 = pd.read_csv(study.out / "tables" / "table7_all_models.csv")
    models = ("Clinical", "Radiomics", "Deep Learning", "DLR", "Nomogram")
    training = [f"{m}-training ({kind})" for m in models for kind in ("apparent", "out-of-fold")]
    assert list(t7["Model"]) == training + [f"{m}-testing" for m in models]
    assert not t7.isna().any().any()
    figures = {p.stem for p in (study.out / "figures").glob("*.png")}
    for name in ("roc_all_train", "roc_all_test", "dca_test", "calibration_test",
                 "delong_test", "nomogram", "lasso_fusion"):
        assert name in figures, name
    assert (study.out / "report.html").exists() and (study.out / "bundle" / "bundle.json").exists()


def test_report_says_how_stable_the_selected_features_are(study_run):
    study, _ = study_run
    for family in ("radiomics", "dlr"):
        selected = json.loads((study.out / "models" / f"{family}.json").read_text())["selected"]
        name = "radiomics" if family == "radiomics" else "fusion"
        table = pd.read_csv(study.out / "tables" / f"selection_stability_{name}.csv")
        chosen = table[table["selected in the model"]]
        assert list(chosen["feature"]) == selected
        assert table["selection frequency"].between(0, 1).all()
    html = (study.out / "report.html").read_text()
    assert "Selection stability: over 50 subsamples of 80% of the training patients" in html


def test_comparators_are_fitted_on_training_cases_and_tested_against_every_model(study_run):
    study, _ = study_run
    t8 = pd.read_csv(study.out / "tables" / "table8_comparators.csv")
    names = ("BI-RADS (radiologist)", "Shape only (9 features)")
    assert list(t8["Model"]) == [f"{m}-training ({kind})" for m in names for kind in (
        "apparent", "out-of-fold")] + [f"{m}-testing" for m in names]
    assert not t8.isna().any().any()
    birads = pd.read_csv(study.out / "predictions" / "birads.csv", index_col="case_id")
    manifest = pd.read_csv(study.config.data.manifest, index_col="case_id")
    assert len(birads) == len(manifest) - 2  # category 0 carries no score
    # monotone in the category: the comparator's AUC is the raw category's AUC
    order = manifest.loc[birads.index, "birads"].map(
        {"2": 2, "3": 3, "4a": 4, "4b": 4.33, "4c": 4.67, "5": 5})
    assert (np.diff(birads["prob"].to_numpy()[np.argsort(order.to_numpy())]) >= -1e-12).all()
    shape = pd.read_csv(study.out / "predictions" / "shape.csv", index_col="case_id")
    assert set(shape["split"]) == {"train", "test"}
    meta = json.loads((study.out / "models" / "comparators.json").read_text())
    assert len(meta["shape"]["features"]) == 9
    tests = pd.read_csv(study.out / "tables" / "delong_comparators.csv")
    p = tests["P"].replace("< 0.001", "0").astype(float)
    holm = tests["P (Holm)"].replace("< 0.001", "0").astype(float)
    assert len(tests) == 2 * 5 and p.between(0, 1).all() and (holm >= p - 1e-3).all()
    html = (study.out / "report.html").read_text()
    assert "Table 8. BI-RADS and shape-only comparator models" in html


def test_nomogram_uses_out_of_fold_dlr_score(study_run):
    study, _ = study_run
    dlr = pd.read_csv(study.out / "predictions" / "dlr.csv", index_col="case_id")
    train = dlr[dlr["split"] == "train"]
    assert train["oof"].notna().all()
    assert not np.allclose(train["oof"], train["prob"])  # the in-sample score is not used


def test_report_carries_the_three_reporting_checklists(study_run):
    study, _ = study_run
    html = (study.out / "report.html").read_text()
    for title in ("TRIPOD+AI checklist", "CLAIM 2024 checklist", "METRICS (Kocak"):
        assert title in html, title
    assert "METRICS score" in html and 'id="table7_all_models"' in html  # anchors resolve
    tripod = pd.read_csv(study.out / "tables" / "checklist_tripod_ai.csv", dtype=str)
    row = tripod.set_index("Item").loc["12a"]
    assert row["Status"] == "reported by sonomics" and "images of" in row["Answer from this run"]
    assert row["Shown in report"] == "#split_summary"
    assert 'id="split_summary"' in html
    assert '<a href="#split_summary">split_summary</a>' in html  # the row links to it
    for key in ("tripod_ai", "claim", "metrics"):
        links = pd.read_csv(study.out / "tables" / f"checklist_{key}.csv", dtype=str,
                            keep_default_na=False)["Shown in report"]
        for link in links[links != ""]:
            assert f'id="{link[1:]}"' in html, (key, link)  # no row points at nothing


def test_rerun_recomputes_nothing(study_run):
    study, _ = study_run
    stamps = {p: p.stat().st_mtime_ns for p in (study.out / "tables").glob("*.csv")
              if p.stem != "validation"}  # validation is cheap and always redone
    again = Study(study.config)
    again.run()
    assert set(again.ran) == {"validate"}  # only the cheap validation is redone
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_changed_setting_recomputes_exactly_downstream(study_run, tmp_path):
    study, _ = study_run
    cfg = study.config.model_copy(deep=True)
    cfg.models.clinical_p = 0.2
    copy = tmp_path / "run"
    shutil.copytree(study.out, copy)
    cfg.out = copy
    rerun = Study(cfg)
    rerun.run()
    assert set(rerun.ran) == {"validate", "clinical", "nomogram", "evaluation",
                              "checklists", "report", "bundle"}


def _predict_test_cases(run: Path, root: Path, tmp_path: Path) -> pd.DataFrame:
    """The study's bundle scoring its own test cases (labels dropped) with ``predict``."""
    manifest = pd.read_csv(root / "cohort" / "manifest.csv")
    split = pd.read_csv(run / "split.csv", index_col="case_id")
    test_ids = split.index[split["split"] == "test"]
    new = manifest[manifest["case_id"].isin(test_ids)].drop(columns=["label"])
    new["image"] = [str(root / "cohort" / p) for p in new["image"]]
    new["mask"] = [str(root / "cohort" / p) for p in new["mask"]]
    new["mask_reader2"] = ""
    new.to_csv(tmp_path / "new.csv", index=False)
    _, result = predict(run / "bundle", tmp_path / "new.csv", tmp_path / "out")
    assert (result["error"] == "").all(), result["error"].tolist()
    return result


def _assert_same_probabilities(result: pd.DataFrame, run: Path, models: tuple[str, ...]):
    for model in models:
        study_pred = pd.read_csv(run / "predictions" / f"{model}.csv",
                                 index_col="case_id")["prob"]
        np.testing.assert_allclose(result[f"{model}_prob"],
                                   study_pred.loc[result.index], rtol=1e-5, atol=1e-6,
                                   err_msg=model)


def test_bundle_round_trip_gives_the_studys_test_predictions(study_run, tmp_path):
    study, root = study_run
    result = _predict_test_cases(study.out, root, tmp_path)
    _assert_same_probabilities(result, study.out,
                               ("clinical", "radiomics", "deep", "dlr", "nomogram"))
    assert {"points_total_points", "nomogram_class"} <= set(result.columns)
    assert all(Path(p).exists() for p in result["gradcam"])


def test_predict_reports_an_unseen_category_for_that_case_only(study_run, tmp_path):
    study, root = study_run
    manifest = pd.read_csv(root / "cohort" / "manifest.csv").head(3)
    for col in ("image", "mask"):
        manifest[col] = [str(root / "cohort" / p) for p in manifest[col]]
    manifest["mask_reader2"] = ""
    meta = json.loads((study.out / "bundle" / "meta.json").read_text())
    variable = meta["clinical"]["selected_variables"][0]
    if variable in meta["clinical"]["categorical"]:
        manifest.loc[0, variable] = "Never-seen level"
    else:
        manifest.loc[0, variable] = "not a number"
    blank = manifest.loc[1, "case_id"]
    manifest.loc[1, variable] = None  # missing: an error row by default (no imputation)
    manifest.to_csv(tmp_path / "m.csv", index=False)
    _, result = predict(study.out / "bundle", tmp_path / "m.csv", tmp_path / "out",
                        gradcam=False)
    first = manifest.loc[0, "case_id"]
    assert first in result.loc[first, "error"] and variable in result.loc[first, "error"]
    assert result.loc[blank, "error"] == (
        f"case {blank}, field '{variable}': missing clinical value; the clinical model and the "
        "nomogram need it (or set predict.impute_missing: true in the study's config)")
    for case in (first, blank):  # a clinical problem leaves the image models' scores
        assert np.isfinite(result.loc[case, "dlr_prob"]) and pd.isna(result.loc[case,
                                                                                "clinical_prob"])
    assert (result.drop(index=[first, blank])["error"] == "").all()


def test_tampered_bundle_is_refused(study_run, tmp_path):
    study, _ = study_run
    copy = tmp_path / "bundle"
    shutil.copytree(study.out / "bundle", copy)
    load_bundle(copy)  # intact: loads
    meta = json.loads((copy / "meta.json").read_text())
    meta["cutoffs"]["dlr"] = 0.0
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="does not match its recorded hash"):
        load_bundle(copy)
    info = json.loads((study.out / "bundle" / "bundle.json").read_text())
    info["format_version"] = 99
    shutil.copytree(study.out / "bundle", tmp_path / "b2")
    (tmp_path / "b2" / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match="format 99"):
        load_bundle(tmp_path / "b2")


def test_report_is_self_contained_and_says_synthetic(study_run):
    study, _ = study_run
    html = (study.out / "report.html").read_text()
    assert "SYNTHETIC DATA" in html and "RANDOM initialisation" in html
    for heading in ("Table 1.", "Table 3.", "Table 4.", "Table 5.", "Table 6.", "Table 7.",
                    "Figure 6.", "Figure 7A.", "Figure 8B.", "Supplementary Table 1."):
        assert heading in html, heading
    assert "src='http" not in html and 'src="http' not in html
    assert html.count("data:image/png;base64,") >= 10


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install "
                                             "chromium); .ci/run installs it")
def test_report_renders_in_headless_chromium(study_run, tmp_path):
    from PIL import Image

    study, _ = study_run
    shot = tmp_path / "report.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400",
           f"--screenshot={shot}", (study.out / "report.html").as_uri()]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10  # not a blank page
    assert (pixels < 128).mean() > 0.01  # text and figures are drawn
    shutil.copy(shot, study.out / "report_screenshot.png")


def test_cohort_without_clinical_variables_runs_all_but_clinical_and_nomogram(tmp_path):
    # also the paper's exact fusion (PCA deep features), an option whose optimism is stated,
    # and the ROI mask as the CNN's third channel, which predict must apply as the study did
    cfg = tiny_config(tmp_path, data={"continuous": [], "categorical": []},
                      fusion={"deep_input": "features"}, deep={"mask_channel": True})
    Study(cfg).run()
    (tmp_path / "new").mkdir()
    result = _predict_test_cases(cfg.out, tmp_path, tmp_path / "new")
    _assert_same_probabilities(result, cfg.out, ("radiomics", "deep", "dlr"))
    assert json.loads((cfg.out / "models" / "deep.json").read_text())["mask_channel"]
    meta = json.loads((cfg.out / "models" / "dlr.json").read_text())
    assert any(f.startswith("deep_resnet18_pc") for f in meta["features_in"])
    assert not (cfg.out / "deep" / "deep_oof_score.parquet").exists()
    assert "OPTIMISTIC" in (cfg.out / "report.html").read_text()
    t7 = pd.read_csv(cfg.out / "tables" / "table7_all_models.csv")
    models = t7["Model"].str.replace(r"-(training|testing).*$", "", regex=True)
    assert set(models) == {"Radiomics", "Deep Learning", "DLR"}
    html = (cfg.out / "report.html").read_text()
    assert "no clinical variables" in html and "no nomogram" in html
    assert "the ROI mask as third input channel" in html
    assert (cfg.out / "bundle" / "bundle.json").exists()


def test_fusion_on_out_of_fold_cnn_scores_is_the_default_and_honest(study_run):
    study, _ = study_run
    cfg = study.config
    assert cfg.fusion.deep_input == "oof_score"  # the default
    oof = pd.read_parquet(cfg.out / "deep" / "deep_oof_score.parquet")
    scores = pd.read_csv(cfg.out / "predictions" / "deep.csv", index_col="case_id")
    scores.index = scores.index.astype(str)
    oof.index = oof.index.astype(str)
    train = scores.index[scores["split"] == "train"]
    test = scores.index[scores["split"] == "test"]
    assert oof["deep_score"].notna().all()
    # training cases: scored by fold CNNs that never saw them, not by the full CNN
    assert not np.allclose(oof.loc[train, "deep_score"], scores.loc[train, "prob"])
    np.testing.assert_allclose(oof.loc[test, "deep_score"], scores.loc[test, "prob"],
                               rtol=1e-6)
    np.testing.assert_allclose(scores.loc[train, "oof"], oof.loc[train, "deep_score"])
    assert len(list((cfg.out / "cache" / "deep" / "resnet18_oof").glob("fold-*"))) == 3
    # test cases: the mean of the 3 fold CNNs (the out-of-fold scores' scale), not the CNN
    # trained on all training cases; the bundle keeps the fold CNNs, and the round trip
    # above shows `predict` computing that mean from them gives the study's test scores
    full = pd.read_csv(cfg.out / "tables" / "deep_scores.csv", index_col="case_id")
    full.index = full.index.astype(str)
    assert not np.allclose(scores.loc[test, "prob"], full.loc[test, "resnet18"])
    assert sorted(p.name for p in (cfg.out / "bundle").glob("cnn_fold-*")) == [
        f"cnn_fold-{k}.safetensors" for k in (1, 2, 3)]
    assert json.loads((cfg.out / "models" / "deep.json").read_text())["fold_cnns"] == 3
    meta = json.loads((cfg.out / "models" / "dlr.json").read_text())
    assert "deep_score" in meta["features_in"]
    assert not any(f.startswith("deep_resnet18_pc") for f in meta["features_in"])
    html = (cfg.out / "report.html").read_text()
    assert "out-of-fold" in html and "OPTIMISTIC" not in html
    # (the bundle round trip above gives the study's test predictions for every model)
