"""`extract CONFIG`: a tiny cohort from manifest to features, failures and ICC tables."""

from __future__ import annotations

import pandas as pd
import yaml
from typer.testing import CliRunner

from _radiomics_data import SMALL_PARAMS, write_case
from sonomics.cli import app


def _study(tmp_path, second_reader: bool, extra: bool = False):
    rows = []
    for i in range(5):
        img, mask = write_case(tmp_path / "img", f"c{i}", seed=40 + i, scale=0.6 + 0.2 * i)
        row = {"case_id": f"c{i}", "image": f"img/{img.name}", "mask": f"img/{mask.name}",
               "label": "benign" if i % 2 else "malignant", "spacing": "0.1"}
        if second_reader:
            _, mask2 = write_case(tmp_path / "r2", f"c{i}", seed=40 + i, scale=0.62 + 0.2 * i)
            row["mask_reader2"] = f"r2/{mask2.name}"
        rows.append(row)
    (tmp_path / "img" / "broken.png").write_bytes(b"not an image")
    rows.append({"case_id": "broken", "image": "img/broken.png", "mask": "img/c0_mask.png",
                 "label": "benign", "spacing": "0.1"})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(SMALL_PARAMS))
    config = {"out": "run", "data": {"manifest": "manifest.csv", "spacing": "spacing"},
              "radiomics": {"params": "params.yaml", "workers": 1,
                            "perturbation_extra": extra}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_extract_writes_features_and_inter_reader_icc_on_training_cases(tmp_path):
    config = _study(tmp_path, second_reader=True)
    result = CliRunner().invoke(app, ["extract", str(config)])
    assert result.exit_code == 0, result.output
    assert "5 cases" in result.output
    run = tmp_path / "run"
    features = pd.read_parquet(run / "radiomics" / "features.parquet")
    assert sorted(features.index) == [f"c{i}" for i in range(5)]
    assert "original_glcm_Contrast" in features.columns
    diagnostics = pd.read_csv(run / "radiomics" / "diagnostics.csv")
    assert set(diagnostics["diagnostics_sonomics_shape_unit"]) == {"mm"}
    # the unreadable image is excluded by validation, before any extraction
    validation = pd.read_csv(run / "tables" / "validation.csv")
    assert "broken" in set(validation.loc[validation["severity"] == "error", "case_id"])
    assert pd.read_csv(run / "tables" / "radiomics_failures.csv").empty
    split = pd.read_csv(run / "split.csv", index_col="case_id")
    icc = pd.read_csv(run / "tables" / "radiomics_icc.csv")
    assert set(icc["kind"]) == {"inter-reader ICC"} and set(icc["raters"]) == {
        "reader1 vs reader2"}
    assert set(icc["n_cases"]) == {int((split["split"] == "train").sum())}  # training only
    assert len(icc) == features.shape[1]
    assert (run / "tables" / "radiomics_icc.md").read_text().count("features kept") == 1

    again = CliRunner().invoke(app, ["extract", str(config)])
    assert again.exit_code == 0 and "unchanged, skipped" in again.output


def test_single_reader_cohort_gets_perturbation_icc(tmp_path):
    config = _study(tmp_path, second_reader=False, extra=True)
    result = CliRunner().invoke(app, ["extract", str(config),
                                      "--out", str(tmp_path / "elsewhere")])
    assert result.exit_code == 0, result.output
    icc = pd.read_csv(tmp_path / "elsewhere" / "tables" / "radiomics_icc.csv")
    assert set(icc["kind"]) == {"perturbation ICC"}
    raters = icc["raters"].iloc[0].split(" vs ")
    assert raters[0] == "reader1" and {"perturb-rotate3", "perturb-noise"} <= set(raters)
    note = (tmp_path / "elsewhere" / "tables" / "radiomics_icc.md").read_text()
    assert "not agreement between two observers" in note


def test_bad_config_exits_with_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("radiomics: {bin_width: -1}\n")
    result = CliRunner().invoke(app, ["extract", str(path)])
    assert result.exit_code == 1
    assert "radiomics.bin_width" in result.output and "Traceback" not in result.output


def test_icc_subset_draws_a_seeded_sample_of_second_readings(tmp_path):
    from sonomics.config import StudyConfig
    from sonomics.radiomics.cohort import build_tasks

    table = pd.DataFrame({
        "image": [str(tmp_path / f"c{i}.png") for i in range(10)],
        "mask": [str(tmp_path / f"c{i}_m.png") for i in range(10)],
        "mask_reader2": [str(tmp_path / f"c{i}_r2.png") if i != 4 else None for i in range(10)],
        "spacing_row": [0.1] * 10, "spacing_col": [0.2] * 10,
    }, index=pd.Index([f"c{i}" for i in range(10)], name="case_id"))
    cfg = StudyConfig.from_dict({"radiomics": {"icc_subset": 3}})
    tasks, kind = build_tasks(table, cfg)
    again, _ = build_tasks(table, cfg)
    second = [t for t in tasks if t.reader == "reader2"]
    assert kind == "inter-reader" and len(tasks) == 13 and len(second) == 3
    assert "c4" not in {t.case_id for t in second}
    assert [t.case_id for t in second] == [t.case_id for t in again if t.reader == "reader2"]
    assert all(t.spacing == (0.1, 0.2) for t in tasks)
