"""Multi-centre cohorts: the site column, `datasets merge`, external sites in the split, and
a whole study evaluated on an external site in every table (issue 13, parts 1-2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _study_data import tiny_config, with_external_centre
from sonomics.config import DataConfig, SplitConfig
from sonomics.data.demo import DemoSettings, generate_demo_cohort
from sonomics.data.manifest import CohortError, load_cohort
from sonomics.data.merge import merge_manifests
from sonomics.data.splits import SplitError, make_split
from sonomics.study.clinical import factors_missing_on_external


def _two_cohorts(root: Path) -> tuple[Path, Path]:
    a = generate_demo_cohort(root / "a", DemoSettings(n_benign=6, n_malignant=5, seed=1,
                                                      image_size=(64, 80)))
    b = generate_demo_cohort(root / "b" / "deeper", DemoSettings(n_benign=5, n_malignant=4,
                                                                  seed=2, image_size=(64, 80)))
    frame = pd.read_csv(b)
    frame["site"] = "scanner-x"  # a cohort's own site column is kept as source_site
    frame = frame.drop(columns=["age"])  # a clinical column only one cohort has
    frame.to_csv(b, index=False)
    return a, b


def test_merge_tags_sites_keeps_ids_unique_and_paths_valid(tmp_path):
    a, b = _two_cohorts(tmp_path)
    result = merge_manifests([a, b], ["CentreA", "CentreB"], tmp_path / "merged")
    frame = pd.read_csv(result.path, dtype=str, keep_default_na=False)
    assert len(frame) == 11 + 9 and frame["case_id"].is_unique
    assert set(frame["site"]) == {"CentreA", "CentreB"}
    first = pd.read_csv(a, dtype=str).iloc[0]
    row = frame[frame["source_case_id"] == first["case_id"]].iloc[0]
    assert row["case_id"] == f"CentreA-{first['case_id']}"
    assert row["patient_id"] == f"CentreA-{first['patient_id']}"
    assert set(frame.loc[frame["site"] == "CentreB", "source_site"]) == {"scanner-x"}
    assert result.partial_columns["age"] == ["CentreB"]
    assert (frame.loc[frame["site"] == "CentreB", "age"] == "").all()
    # relative paths were rewritten: every image and mask opens from the merged folder
    cohort = load_cohort(DataConfig(), result.path)
    assert all(Path(p).is_file() for p in cohort.table["image"])
    assert all(Path(p).is_file() for p in cohort.table["mask"])
    assert cohort.table["site"].value_counts().to_dict() == {"CentreA": 11, "CentreB": 9}


@pytest.mark.parametrize(("sites", "message"), [
    (["A"], "2 manifests but 1 --site"),
    (["A", "A"], "must differ"),
    (["A", "b/c"], "must start with a letter or digit"),
])
def test_merge_refuses_unclear_site_names(tmp_path, sites, message):
    a, b = _two_cohorts(tmp_path)
    with pytest.raises(CohortError, match=message):
        merge_manifests([a, b], sites, tmp_path / "merged")


def test_merge_never_overwrites_without_force_and_cli_prints_the_partial_columns(tmp_path):
    from sonomics.cli import app

    a, b = _two_cohorts(tmp_path)
    runner = CliRunner()
    args = ["datasets", "merge", str(a), str(b), "--site", "A", "--site", "B",
            "--out", str(tmp_path / "m")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())  # rich wraps long lines
    assert "column 'age' is absent from site(s) B" in text
    assert "20 cases from 2 sites" in text and "B: 9 cases (5 benign, 4 malignant)" in text
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "use --force" in again.output


def _table(sites: list[str], patients: list[str] | None = None) -> pd.DataFrame:
    n = len(sites)
    return pd.DataFrame({"patient_id": patients or [f"p{i}" for i in range(n)],
                         "label": [i % 2 for i in range(n)], "site": sites},
                        index=pd.Index([f"c{i}" for i in range(n)], name="case_id"))


def test_external_sites_hold_every_case_of_those_sites_and_only_them():
    table = _table(["A"] * 30 + ["B"] * 10 + ["C"] * 6)
    split = make_split(table, SplitConfig(external_sites=["B", "C"]))
    assert (split[table["site"].isin(["B", "C"])] == "external").all()
    inner = split[table["site"] == "A"]
    assert set(inner) == {"train", "test"} and (inner == "test").sum() == 9
    # without external sites the same table splits all cases train/test
    assert "external" not in set(make_split(table, SplitConfig()))


@pytest.mark.parametrize(("table", "sites", "message"), [
    (_table(["A"] * 20 + ["B"] * 6), ["Z"], r"site\(s\) \['Z'\] not in"),
    (_table(["A"] * 20 + [None] * 6), ["A"], "empty for case"),
    (_table(["A"] * 20 + ["B"] * 6).drop(columns="site"), ["B"], "no 'site' column"),
    (_table(["B"] * 10), ["B"], "nothing is left to train on"),
    (_table(["A"] * 20 + ["B"] * 6, [f"p{i}" for i in range(25)] + ["p0"]), ["B"],
     "both sides"),
])
def test_external_sites_refuse_what_cannot_be_split(table, sites, message):
    with pytest.raises(SplitError, match=message):
        make_split(table, SplitConfig(external_sites=sites))


def test_a_factor_missing_on_a_whole_external_site_is_named():
    external = pd.DataFrame({"site": ["B", "B", "C"], "age": [np.nan, np.nan, 50.0],
                             "shape": ["regular", None, "irregular"]})
    assert factors_missing_on_external(external, ["age", "shape"]) == {"age": "B"}
    assert factors_missing_on_external(external.iloc[:0], ["age"]) == {}


@pytest.fixture(scope="module")
def external_run(module_tmp):
    """The tiny study (44 cases, site Main) plus 18 cases of another centre, external."""
    from sonomics.study import Study

    cfg = tiny_config(module_tmp / "main")
    cfg = with_external_centre(cfg, module_tmp, [cfg.data.manifest], ["Main"])
    Study(cfg).run()
    return cfg


def _rows(run: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(run / "tables" / f"{table}.csv")


def test_every_results_table_has_its_external_rows(external_run):
    run = Path(external_run.out)
    split = pd.read_csv(run / "split.csv", dtype={"case_id": str})
    assert (split.loc[split["site"] == "Other", "split"] == "external").all()
    summary = _rows(run, "split_summary").set_index(["split", "site"])
    assert summary.loc[("external", "all"), "cases"] == 18
    assert summary.loc[("train", "all"), "cases"] == summary.loc[("train", "Main"), "cases"]
    assert set(split.loc[split["site"] == "Main", "split"]) == {"train", "test"}
    for table in ("table3_clinical_models", "table4_radiomics_models", "table5_deep",
                  "table6_dlr_models", "table7_all_models", "table8_comparators"):
        models = _rows(run, table)["Model"]
        assert models.str.endswith("-external").any(), table
        assert models.str.endswith("-testing").any(), table
    t7 = _rows(run, "table7_all_models")
    for model in ("Clinical", "Radiomics", "Deep Learning", "DLR", "Nomogram"):
        assert f"{model}-external" in set(t7["Model"]), model
    for table in ("calibration_summary", "hosmer_lemeshow"):
        assert "external" in set(_rows(run, table)["Set"]), table
    assert "external" in set(_rows(run, "delong_comparators")["Set"])
    for name in ("roc_all_external", "dca_external", "calibration_external",
                 "delong_external"):
        assert (run / "figures" / f"{name}.png").is_file(), name
    assert (run / "tables" / "delong_external.csv").is_file()
    assert "external set" in (run / "report.html").read_text()


def test_the_external_set_is_judged_at_the_training_cut_off(external_run):
    from sonomics.evaluation.metrics import binary_metrics, youden_point, youden_threshold

    run = Path(external_run.out)
    preds = pd.read_csv(run / "predictions" / "radiomics.csv", dtype={"case_id": str})
    train, ext = preds[preds["split"] == "train"], preds[preds["split"] == "external"]
    assert len(ext) == 18
    cut = youden_threshold(train["label"], train["oof"])
    at_train = binary_metrics(ext["label"], ext["prob"], cut)
    t7 = _rows(run, "table7_all_models").set_index("Model")
    assert t7.loc["Radiomics-external", "Sensitivity"] == pytest.approx(
        at_train["sensitivity"], abs=1e-9)
    transfer = _rows(run, "cutoff_transfer").set_index("Model").loc["Radiomics"]
    assert transfer["Training cut-off"] == pytest.approx(cut)
    own, sens, spec = youden_point(ext["label"], ext["prob"])
    assert transfer["External Youden cut-off"] == pytest.approx(own)
    assert transfer["Youden index lost"] == pytest.approx(
        sens + spec - at_train["sensitivity"] - at_train["specificity"])
    assert transfer["Youden index lost"] >= -1e-12  # the own cut-off is the best there


def test_external_cases_are_never_trained_on(external_run):
    run = Path(external_run.out)
    split = pd.read_csv(run / "split.csv", dtype={"case_id": str}).set_index("case_id")
    external = set(split.index[split["split"] == "external"])
    for model in ("clinical", "radiomics", "deep", "dlr", "nomogram", "birads", "shape"):
        preds = pd.read_csv(run / "predictions" / f"{model}.csv", dtype={"case_id": str})
        trained = set(preds.loc[preds["split"] == "train", "case_id"])
        assert not trained & external, model
        assert set(preds.loc[preds["split"] == "external", "case_id"]) <= external, model
