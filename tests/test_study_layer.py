"""The study layer: content-aware resume, declared outputs, one scoring path, one split.

One tiny study (module fixture) is run with some clinical values blanked and with the
imputation rule of :class:`ClinicalImputer` changed for the run, so that
``sonomics predict`` can be shown to follow whatever the training side did. Later tests
rerun that study after deleting an output and after editing a mask in place; the mask
test comes last because it changes the cohort.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from _study_data import tiny_config
from sonomics.cli import app
from sonomics.data.manifest import load_cohort
from sonomics.data.splits import make_split
from sonomics.data.validation import validate_cohort
from sonomics.models.clinical import ClinicalImputer
from sonomics.predict import predict
from sonomics.study import Study

BLANKED = ["age", "max_diameter_cm", "shape", "margin"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _changed_rule(self, X, y=None):
    """A deliberately different imputation rule: training mean + 7 for a continuous value
    (not the median), the most frequent level for a categorical one (not "missing")."""
    self.fill_ = {c: float(pd.to_numeric(X[c]).mean() + 7) for c in self.continuous or []}
    self.fill_.update({c: str(X[c].mode().iloc[0]) for c in self.categorical or []})
    return self


def _expected_fill(train: pd.DataFrame, var: str) -> object:
    values = pd.to_numeric(train[var], errors="coerce")
    if values.notna().any():
        return pytest.approx(values.mean() + 7)
    return str(train[var].mode().iloc[0])


@pytest.fixture(scope="module")
def study(module_tmp) -> Study:
    root = module_tmp
    # lenient thresholds keep a clinical model on 44 cases with blanked values
    cfg = tiny_config(root, models={"univariable_p": 0.5, "clinical_p": 0.5},
                      predict={"impute_missing": True})
    manifest = pd.read_csv(cfg.data.manifest, dtype={"case_id": str})
    manifest.loc[manifest.index[::5], BLANKED] = np.nan  # every 5th case: values missing
    manifest.to_csv(cfg.data.manifest, index=False)
    # one test case gets a level no training case has (the split does not depend on it)
    cohort = load_cohort(cfg)
    validate_cohort(cohort)
    sides = make_split(cohort.usable(), cfg.split)
    rare = str(sides.index[sides == "test"][0])
    manifest.loc[manifest["case_id"] == rare, "echogenicity"] = "never-seen"
    manifest.to_csv(cfg.data.manifest, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ClinicalImputer, "fit", _changed_rule)
        study = Study(cfg)
        study.run()
    study.rare_case = rare
    return study


def test_predict_applies_the_studys_own_imputation(study, tmp_path):
    meta = study.dir.meta("clinical")
    used = [v for v in meta["selected_variables"] if v in BLANKED]
    assert used, f"no blanked variable among the clinical factors {meta['selected_variables']}"
    manifest = pd.read_csv(study.config.data.manifest, dtype={"case_id": str})
    train = manifest[study.dir.split().reindex(manifest["case_id"]).to_numpy() == "train"]
    for var in used:  # the run used the changed rule, not the median
        assert meta["impute"][var] == _expected_fill(train, var)
    split = study.dir.split()
    test_ids = split.index[split == "test"]
    new = manifest[manifest["case_id"].isin(test_ids)].drop(columns=["label"])
    assert new[used].isna().any().any(), "no test case with a blanked factor"
    base = study.config.data.manifest.parent
    for col in ("image", "mask"):
        new[col] = [str(base / p) for p in new[col]]
    new["mask_reader2"] = ""
    new.to_csv(tmp_path / "new.csv", index=False)
    _, result = predict(study.out / "bundle", tmp_path / "new.csv", tmp_path / "out",
                        gradcam=False)
    rare = study.rare_case  # a level unseen in training: its clinical scores are missing
    assert result.loc[rare, "error"].startswith(f"case {rare}") and "never-seen" in \
        result.loc[rare, "error"]
    assert np.isfinite(result.loc[rare, "dlr_prob"]) and pd.isna(result.loc[rare,
                                                                         "clinical_prob"])
    scored = result.drop(index=rare)
    assert (scored["error"] == "").all(), scored["error"].tolist()
    blanked = new.set_index("case_id").loc[scored.index, used].isna().any(axis=1)
    assert scored.loc[blanked, "imputed"].str.len().gt(0).all()  # imputation is reported
    for model in ("clinical", "nomogram"):
        want = study.predictions(model)["prob"].loc[scored.index]
        np.testing.assert_allclose(scored[f"{model}_prob"], want, rtol=1e-9, err_msg=model)


def test_predict_with_a_repeated_case_id_refuses_those_rows_and_scores_the_rest(study,
                                                                                tmp_path):
    split = study.dir.split()
    ids = list(split.index[split == "test"][:3])
    manifest = pd.read_csv(study.config.data.manifest, dtype={"case_id": str})
    new = manifest.set_index("case_id").loc[ids].reset_index().drop(columns=["label"])
    base = study.config.data.manifest.parent
    for col in ("image", "mask"):
        new[col] = [str(base / p) for p in new[col]]
    new["mask_reader2"] = ""
    new = pd.concat([new, new.iloc[[0]]])  # the first id twice
    new.to_csv(tmp_path / "repeated.csv", index=False)
    result = CliRunner().invoke(app, ["predict", str(study.out / "bundle"),
                                      str(tmp_path / "repeated.csv"), "--out",
                                      str(tmp_path / "out"), "--no-gradcam"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    written = pd.read_csv(tmp_path / "out" / "predictions.csv", dtype={"case_id": str},
                         keep_default_na=False)
    repeated = written[written["case_id"] == ids[0]]
    assert len(repeated) == 2
    assert repeated["error"].str.startswith(f"case {ids[0]}").all()
    assert repeated["error"].str.contains("duplicate case id").all()
    assert not repeated["error"].str.contains(f"case {ids[0]}: case {ids[0]}").any()
    others = written[written["case_id"].isin(ids[1:])]
    assert len(others) == 2 and (others["error"] == "").all()
    assert others["dlr_prob"].astype(float).between(0, 1).all()


def test_a_level_unseen_in_training_costs_that_case_its_clinical_score_only(study):
    not_scored = study.table("clinical_not_scored")
    assert list(not_scored["case_id"].astype(str)) == [study.rare_case]
    assert study.rare_case not in study.predictions("clinical").index
    assert study.rare_case not in study.predictions("nomogram").index
    assert study.rare_case in study.predictions("dlr").index
    failures = study.table("failures")
    assert study.rare_case in set(failures["case_id"].astype(str))


def test_python_api_example_reads_the_finished_study(study, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python_api.py", str(study.dir.config_yaml)])
    runpy.run_path(str(EXAMPLES / "python_api.py"), run_name="__main__")
    printed = capsys.readouterr().out
    assert "Nomogram-testing" in printed and "Table 7" in printed
    again = Study.from_config(study.dir.config_yaml)
    assert again.table(7).equals(study.table("table7_all_models"))
    assert set(again.predictions("dlr")["split"]) == {"train", "test"}


def test_extract_and_deep_commands_run_the_studys_own_stages(study, tmp_path):
    out = tmp_path / "parts"
    config = study.dir.config_yaml
    for command in ("extract", "deep"):
        result = CliRunner().invoke(app, [command, str(config), "--out", str(out)])
        assert result.exit_code == 0, result.output
    # the random-initialisation notice is a message, not also a Python warning with its
    # source line (the CLI filters the duplicate)
    assert "RandomInitWarning" not in result.output
    assert "build_backbone(name" not in result.output
    pd.testing.assert_frame_equal(pd.read_csv(out / "split.csv"),
                                  pd.read_csv(study.dir.split_csv))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "radiomics" / "features.parquet"),
                                  pd.read_parquet(study.dir.radiomics_features))
    pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / "radiomics_icc.csv"),
                                  pd.read_csv(study.dir.table_path("radiomics_icc")))
    deep = pd.read_csv(out / "predictions" / "deep.csv", index_col="case_id")
    assert deep["split"].equals(study.predictions("deep")["split"].loc[deep.index])


def test_a_deleted_output_reruns_its_stage_and_what_needs_it(study):
    table4 = study.dir.table_path("table4_radiomics_models")
    table4.unlink()
    again = Study(study.config)
    again.run()
    assert set(again.ran) == {"validate", "radiomics_model", "evaluation", "checklists",
                              "report", "bundle"}
    assert table4.exists()


def test_a_stage_that_now_produces_nothing_leaves_no_stale_output(study, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(study.out, run)
    cfg = study.config.model_copy(deep=True)
    cfg.out = run
    cfg.models.clinical_p = 1e-12  # no factor is retained: no clinical model, no nomogram
    Study(cfg).run()
    for stale in ("predictions/clinical.csv", "predictions/nomogram.csv",
                  "models/clinical.skops", "tables/supp_table1_clinical_lr.csv",
                  "tables/table3_clinical_models.csv", "figures/nomogram.png"):
        assert not (run / stale).exists(), stale
    t7 = pd.read_csv(run / "tables" / "table7_all_models.csv")
    assert not t7["Model"].str.startswith(("Clinical", "Nomogram")).any()
    meta = json.loads((run / "bundle" / "meta.json").read_text())
    assert "clinical" not in meta and "nomogram" not in meta
    assert "no nomogram" in (run / "report.html").read_text()


def test_an_edited_mask_reruns_radiomics_and_downstream_only(study):
    before = pd.read_parquet(study.dir.radiomics_features)
    case = before.index[0]
    mask_path = Path(study.context.cohort().usable().loc[case, "mask"])
    stat = mask_path.stat()
    mask = np.asarray(Image.open(mask_path))
    eroded = mask.copy()
    rows = np.flatnonzero(mask.any(axis=1))
    eroded[rows[: len(rows) // 3]] = 0  # cut the top third of the lesion
    Image.fromarray(eroded).save(mask_path)
    os.utime(mask_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: content counts
    again = Study(study.config)
    again.run()
    assert set(again.ran) == {"validate", "radiomics", "radiomics_model", "deep", "fusion",
                              "comparators", "nomogram", "evaluation", "checklists", "report",
                              "bundle"}
    after = pd.read_parquet(study.dir.radiomics_features)
    assert after.loc[case, "original_shape2D_PixelSurface"] < before.loc[
        case, "original_shape2D_PixelSurface"]


def test_a_model_file_naming_a_callable_is_refused_and_runs_nothing(tmp_path):
    import functools

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from sonomics.bundle import BundleError, load_skops

    marker = tmp_path / "ran"
    payload = functools.partial(exec, f"open({str(marker)!r}, 'w').close()")
    forged = tmp_path / "clinical.skops"
    forged.write_bytes(sio.dumps({"model": FunctionTransformer(payload)}))
    with pytest.raises(BundleError, match="builtins.exec"):
        model = load_skops(forged)
        model["model"].transform([[0.0]])  # what a trusting loader would go on to do
    assert not marker.exists()


def test_a_second_run_on_the_same_folder_refuses_at_once(tmp_path):
    from filelock import FileLock

    from sonomics.config import StudyConfig
    from sonomics.study.api import RunLockedError

    out = tmp_path / "run"
    out.mkdir()
    (out / ".sonomics.lock.pid").write_text("4242")
    with FileLock(out / ".sonomics.lock"), pytest.raises(RunLockedError, match="PID 4242"):
        Study(StudyConfig(), out=out).run()  # another run holds the folder
    assert not (out / "config.yaml").exists()  # the refused run wrote nothing


def test_a_signed_bundle_refuses_a_consistent_forgery(study, tmp_path):
    import hashlib
    import shutil

    from sonomics.bundle import BundleError, _digest, load_bundle, read_key, sign_bundle

    bundle = tmp_path / "bundle"
    shutil.copytree(study.dir.bundle, bundle)
    (tmp_path / "key").write_text("0123456789abcdef0123456789abcdef")
    key = read_key(tmp_path / "key")
    with pytest.raises(BundleError, match="not signed"):
        load_bundle(bundle, verify_key=key)
    sign_bundle(bundle, key)
    load_bundle(bundle, verify_key=key)  # signed and intact: loads
    # a forger flips a cut-off and rewrites every hash consistently
    meta = json.loads((bundle / "meta.json").read_text())
    meta["cutoffs"]["dlr"] = 0.0
    (bundle / "meta.json").write_text(json.dumps(meta))
    info = json.loads((bundle / "bundle.json").read_text())
    info["files"]["meta.json"] = hashlib.sha256((bundle / "meta.json").read_bytes()).hexdigest()
    info["digest"] = _digest(info["files"])
    (bundle / "bundle.json").write_text(json.dumps(info))
    load_bundle(bundle)  # hashes alone cannot tell (documented)
    with pytest.raises(BundleError, match="signature does not match"):
        load_bundle(bundle, verify_key=key)


def test_sign_and_predict_verify_key_on_the_command_line(study, tmp_path):
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(study.dir.bundle, bundle)
    key = tmp_path / "key"
    key.write_text("fedcba9876543210fedcba9876543210")
    split = study.dir.split()
    manifest = pd.read_csv(study.config.data.manifest, dtype={"case_id": str})
    new = manifest[manifest["case_id"].isin(split.index[split == "test"][:2])]
    base = study.config.data.manifest.parent
    for col in ("image", "mask"):
        new = new.assign(**{col: [str(base / p) for p in new[col]]})
    new.assign(mask_reader2="").to_csv(tmp_path / "new.csv", index=False)
    args = ["predict", str(bundle), str(tmp_path / "new.csv"), "--no-gradcam",
            "--verify-key", str(key), "--out"]
    unsigned = CliRunner().invoke(app, [*args, str(tmp_path / "a")])
    assert unsigned.exit_code == 1 and "not signed" in unsigned.output
    assert CliRunner().invoke(app, ["sign", str(bundle), "--key", str(key)]).exit_code == 0
    signed = CliRunner().invoke(app, [*args, str(tmp_path / "b")])
    assert signed.exit_code == 0, signed.output
    assert len(pd.read_csv(tmp_path / "b" / "predictions.csv")) == 2
    (bundle / "meta.json").write_text((bundle / "meta.json").read_text() + " ")
    tampered = CliRunner().invoke(app, [*args, str(tmp_path / "c")])
    assert tampered.exit_code == 1 and "Traceback" not in tampered.output
    assert not (tmp_path / "c" / "predictions.csv").exists()
