"""``sonomics serve``: the JSON API and the page, with the framework's test client.

One tiny study (module fixture) gives the bundle. Every bad input must come back as a 4xx
with one line naming the field, never a 500; the page's scores must equal `sonomics
predict` on the same inputs. The real-browser test is in test_serve_browser.py.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from _study_data import tiny_config
from sonomics.bundle import load_bundle
from sonomics.predict import predict
from sonomics.serve.roi import InputError, box_mask, polygon_mask
from sonomics.study import Study

pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from sonomics.serve.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def served(module_tmp) -> dict:
    # with a segmenter in the bundle (3 epochs at 64 px: enough to find the blob)
    study = Study(tiny_config(module_tmp, segment={"enabled": True, "input_size": 64,
                                                   "epochs": 3, "batch_size": 8}))
    study.run(["bundle"])
    bundle = load_bundle(study.out / "bundle")
    manifest = pd.read_csv(module_tmp / "cohort" / "manifest.csv")
    return {"bundle": bundle, "path": study.out / "bundle", "root": module_tmp,
            "manifest": manifest, "client": TestClient(create_app(bundle))}


def case_inputs(served: dict, i: int = 0) -> tuple[pd.Series, dict, dict]:
    """A cohort case as API inputs: its row, its files and its factor values."""
    row = served["manifest"].iloc[i]
    root = served["root"] / "cohort"
    files = {"image": (root / row["image"]).read_bytes(), "mask": (root / row["mask"]).read_bytes()}
    schema = served["client"].get("/api/schema").json()
    factors = {f["name"]: str(row[f["name"]]) for f in schema["factors"]}
    return row, files, factors


def in_range_case(served: dict) -> int:
    """The first cohort case whose continuous factors lie inside the training ranges."""
    schema = served["client"].get("/api/schema").json()
    for i, row in served["manifest"].iterrows():
        if all(f["low"] <= float(row[f["name"]]) <= f["high"]
               for f in schema["factors"] if f["kind"] == "continuous"):
            return int(i)
    raise AssertionError("no case inside the training ranges")


def predict_cli(served: dict, tmp_path: Path, row: pd.Series, mask: Path) -> pd.Series:
    """`sonomics predict` on one case with the given mask file."""
    root = served["root"] / "cohort"
    new = row.to_frame().T.drop(columns=["label"])
    new["image"], new["mask"], new["mask_reader2"] = str(root / row["image"]), str(mask), ""
    new.to_csv(tmp_path / "one.csv", index=False)
    _, result = predict(served["path"], tmp_path / "one.csv", tmp_path / "cli", gradcam=False)
    assert result["error"].iloc[0] == "", result["error"].iloc[0]
    return result.iloc[0]


def test_schema_is_generated_from_the_bundle(served):
    schema = served["client"].get("/api/schema").json()
    meta = served["bundle"].meta
    names = [f["name"] for f in schema["factors"]]
    assert sorted(names) == sorted(meta["clinical"]["continuous"] + meta["clinical"]["categorical"])
    used = {f["name"] for f in schema["factors"] if f["in_model"]}
    assert used == set(meta["clinical"]["selected_variables"])
    assert names[:len(used)] == [n for n in names if n in used]  # the model's factors first
    train = served["manifest"].set_index("case_id").loc[
        pd.read_csv(served["path"].parent / "split.csv", index_col="case_id")
        .query("split == 'train'").index]
    for f in schema["factors"]:
        if f["kind"] == "continuous":
            assert (f["low"], f["high"]) == (train[f["name"]].min(), train[f["name"]].max())
        else:
            assert sorted(f["levels"]) == sorted(train[f["name"]].astype(str).unique())
    assert {f["name"]: f["unit"] for f in schema["factors"]}["age"] == "years"
    assert schema["cutoffs"] == pytest.approx(meta["cutoffs"])
    prov = schema["provenance"]
    assert prov["synthetic"] is True and prov["cnn_weights"] == "random"
    assert prov["cnn_random_init"] is True and prov["versions"]["torch"]


def test_api_scores_equal_sonomics_predict(served, tmp_path):
    i = in_range_case(served)
    row, files, factors = case_inputs(served, i)
    reply = served["client"].post("/api/predict", files=files, data={
        "factors": json.dumps(factors), "spacing_mm": str(row["spacing_mm"])})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    cli = predict_cli(served, tmp_path, row, served["root"] / "cohort" / row["mask"])
    for model, scored in body["models"].items():
        assert scored["probability"] == pytest.approx(cli[f"{model}_prob"], abs=1e-9), model
        assert scored["class"] == cli[f"{model}_class"]
    assert body["points"]["total_points"] == pytest.approx(cli["points_total_points"])
    assert body["warnings"] == []
    for figure in ("gradcam_png", "nomogram_png"):
        assert body[figure].startswith("data:image/png;base64,")


def test_a_drawn_box_or_polygon_is_the_mask_predict_gets(served, tmp_path):
    i = in_range_case(served)
    row, files, factors = case_inputs(served, i)
    image = Image.open(served["root"] / "cohort" / row["image"])
    shape = (image.height, image.width)
    polygon = [[30, 20], [90, 24], [80, 70], [35, 66]]
    for field, text, mask in (
            ("roi_box", "30,20,90,70", box_mask("30,20,90,70", shape)),
            ("roi_polygon", json.dumps(polygon), polygon_mask(json.dumps(polygon), shape))):
        reply = served["client"].post("/api/predict", files={"image": files["image"]}, data={
            field: text, "factors": json.dumps(factors), "spacing_mm": str(row["spacing_mm"])})
        assert reply.status_code == 200, reply.text
        path = tmp_path / f"{field}.png"
        Image.fromarray(mask.astype(np.uint8) * 255).save(path)
        cli = predict_cli(served, tmp_path, row, path)
        assert reply.json()["models"]["dlr"]["probability"] == pytest.approx(cli["dlr_prob"],
                                                                             abs=1e-9)


def test_box_and_polygon_rasterisation():
    box = box_mask("2,1,6,4", (5, 8))
    assert box.sum() == 12 and box[1:4, 2:6].all()
    tri = polygon_mask("[[0,0],[7,0],[0,4]]", (5, 8))
    assert tri[0, 0] and not tri[4, 7]
    with pytest.raises(InputError, match="outside the image"):
        box_mask("0,0,9,3", (5, 8))
    with pytest.raises(InputError, match="at least 3 vertices"):
        polygon_mask("1,1,2,2", (5, 8))


BAD_INPUTS = {
    "corrupt image": ({"image": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40}, {}, 422, "image"),
    "not an image": ({"image": b"hello, this is text"}, {}, 415, "image"),
    "empty ROI": ({"mask": "empty"}, {}, 422, "mask"),
    "ROI outside the image": ({"mask": None}, {"roi_box": "10,10,4000,50"}, 422, "roi_box"),
    "two ROIs": ({}, {"roi_box": "10,10,40,50"}, 422, "roi"),
    "no ROI": ({"mask": None}, {}, 422, "roi"),
    "missing factor": ({}, {"drop": "age"}, 422, "factor 'age'"),
    "unseen category": ({}, {"set": ("gender", "Unknown <b>x</b>")}, 422, "never seen"),
    "out-of-range value": ({}, {"set": ("age", "250")}, 422, "outside the training range"),
    "not a number": ({}, {"set": ("age", "sixty")}, 422, "not a number"),
    "unknown factor": ({}, {"set": ("weight", "70")}, 422, "factor 'weight'"),
    "bad factors JSON": ({}, {"factors": "{not json"}, 422, "factors"),
    "bad box": ({"mask": None}, {"roi_box": "a,b,c,d"}, 422, "roi_box"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_each_bad_input_gets_one_clear_line_and_a_4xx(served, name):
    i = in_range_case(served)
    row, files, factors = case_inputs(served, i)
    file_edit, data_edit, status, says = BAD_INPUTS[name]
    for key, value in file_edit.items():
        if value is None:
            files.pop(key)
        elif value == "empty":
            files[key] = _png_bytes(np.zeros((96, 128), np.uint8))
        else:
            files[key] = value
    data = {"spacing_mm": str(row["spacing_mm"])}
    if "drop" in data_edit:
        factors.pop(data_edit["drop"])
    if "set" in data_edit:
        factors[data_edit["set"][0]] = data_edit["set"][1]
    data["factors"] = data_edit.get("factors", json.dumps(factors))
    data.update({k: v for k, v in data_edit.items() if k.startswith("roi_")})
    reply = served["client"].post("/api/predict", files=files, data=data)
    assert reply.status_code == status, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and says in detail, detail
    assert "Traceback" not in reply.text and "sonomics-serve-" not in detail  # no server path


def test_out_of_range_is_scored_only_when_accepted_and_then_warned(served):
    row, files, factors = case_inputs(served, in_range_case(served))
    factors["age"] = "250"
    reply = served["client"].post("/api/predict", files=files, data={
        "factors": json.dumps(factors), "accept_out_of_range": "true",
        "spacing_mm": str(row["spacing_mm"])})
    assert reply.status_code == 200, reply.text
    assert any("age: 250 years lies outside the training range" in w
               for w in reply.json()["warnings"])


def test_an_oversize_upload_is_refused_with_413(served):
    small = TestClient(create_app(served["bundle"], max_upload_mb=0.001))
    reply = small.post("/api/predict", files={"image": b"\x89PNG" + b"\x00" * 5000})
    assert reply.status_code == 413 and "upload too large" in reply.json()["detail"]
    tiny = TestClient(create_app(served["bundle"], max_pixels=100))
    row, files, factors = case_inputs(served, in_range_case(served))
    reply = tiny.post("/api/predict", files=files, data={"factors": json.dumps(factors)})
    assert reply.status_code == 413 and "pixels" in reply.json()["detail"]
    for endpoint in ("/api/preview", "/api/segment"):
        reply = tiny.post(endpoint, files={"image": files["image"]})
        assert reply.status_code == 413 and "pixels" in reply.json()["detail"], endpoint


def test_page_form_result_and_escaped_error(served, tmp_path):
    client = served["client"]
    page = client.get("/")
    assert page.status_code == 200 and "SYNTHETIC" in page.text
    assert 'name="factor.age"' in page.text and "training range" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched
    row, files, factors = case_inputs(served, in_range_case(served))
    form = {f"factor.{k}": v for k, v in factors.items()}
    form.update({"roi_mode": "mask", "spacing_mm": str(row["spacing_mm"])})
    result = client.post("/predict", files=files, data=form)
    assert result.status_code == 200, result.text[:500]
    cli = predict_cli(served, tmp_path, row, served["root"] / "cohort" / row["mask"])
    shown = f'data-model="nomogram" data-prob="{cli["nomogram_prob"]:.10f}"'
    assert shown in result.text
    assert 'id="nomogram"' in result.text and 'id="gradcam"' in result.text
    assert "sonomics-case-summary.html" in result.text
    form["factor.gender"] = "<script>alert(1)</script>"
    bad = client.post("/predict", files=files, data=form)
    assert bad.status_code == 422 and "<script>alert(1)" not in bad.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bad.text and 'id="error"' in bad.text


def test_nothing_about_a_patient_outlives_the_response(served, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    row, files, factors = case_inputs(served, in_range_case(served))
    data = {"factors": json.dumps(factors), "spacing_mm": str(row["spacing_mm"])}
    assert served["client"].post("/api/predict", files=files, data=data).status_code == 200
    bad = dict(files, image=b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert served["client"].post("/api/predict", files=bad, data=data).status_code == 422
    assert list((tmp_path / "tmp").iterdir()) == []
    keep = tmp_path / "kept"
    keep.mkdir()
    keeping = TestClient(create_app(served["bundle"], keep=keep))
    assert keeping.post("/api/predict", files=files, data=data).status_code == 200
    (kept,) = keep.iterdir()
    assert {p.name for p in kept.iterdir()} >= {"image.png", "mask.png", "manifest.csv"}


def test_openapi_page_is_served_offline(served):
    client = served["client"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/schema"} <= set(spec["paths"])


def test_only_loopback_hosts_count_as_local():
    from sonomics.cli.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def _png_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def test_a_dicom_upload_reads_its_spacing_from_the_header(served, tmp_path):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    row, files, factors = case_inputs(served, in_range_case(served))
    pixels = np.asarray(Image.open(served["root"] / "cohort" / row["image"]).convert("L"))
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(tmp_path / "a.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.Modality = meta.MediaStorageSOPClassUID, "US"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelSpacing = [float(row["spacing_mm"])] * 2
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    ds.save_as(str(tmp_path / "a.dcm"), enforce_file_format=True)
    client = served["client"]
    preview = client.post("/api/preview", files={"image": (tmp_path / "a.dcm").read_bytes()})
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (pixels.shape[1], pixels.shape[0])
    as_png = client.post("/api/predict", files=files, data={
        "factors": json.dumps(factors), "spacing_mm": str(row["spacing_mm"])}).json()
    as_dicom = client.post("/api/predict", files={"image": (tmp_path / "a.dcm").read_bytes(),
                                                  "mask": files["mask"]},
                           data={"factors": json.dumps(factors)})
    assert as_dicom.status_code == 200, as_dicom.text
    assert as_dicom.json()["warnings"] == []  # the header gave the spacing
    for model, scored in as_png["models"].items():
        assert as_dicom.json()["models"][model]["probability"] == pytest.approx(
            scored["probability"], abs=1e-6), model


def test_a_case_without_a_mask_is_segmented_by_the_bundles_segmenter(served, tmp_path):
    row, files, factors = case_inputs(served, in_range_case(served))
    root = served["root"] / "cohort"
    new = row.to_frame().T.drop(columns=["label"])
    new["image"], new["mask"], new["mask_reader2"] = str(root / row["image"]), "", ""
    new.to_csv(tmp_path / "nomask.csv", index=False)
    _, auto = predict(served["path"], tmp_path / "nomask.csv", tmp_path / "a", gradcam=False)
    assert auto["error"].iloc[0] == "" and auto["mask_source"].iloc[0] == "auto"
    written = tmp_path / "a" / "auto_masks"
    (mask_file,) = written.iterdir()
    given = predict_cli(served, tmp_path, row, mask_file)  # the same ROI, given as a file
    for model in ("radiomics", "deep", "dlr", "nomogram"):
        assert auto[f"{model}_prob"].iloc[0] == pytest.approx(given[f"{model}_prob"]), model
    # the API's segment mode gives the same, and /api/segment shows that ROI
    client = served["client"]
    assert "segment" in client.get("/api/schema").json()["roi"]["modes"]
    reply = client.post("/api/predict", files={"image": files["image"]}, data={
        "segment": "true", "factors": json.dumps(factors), "spacing_mm": str(row["spacing_mm"])})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["roi"] == "auto"
    assert body["models"]["dlr"]["probability"] == pytest.approx(auto["dlr_prob"].iloc[0])
    shown = client.post("/api/segment", files={"image": files["image"]})
    assert shown.status_code == 200
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(shown.content))) > 0,
                                  np.asarray(Image.open(mask_file)) > 0)
    both = client.post("/api/predict", files=files, data={"segment": "true",
                                                          "factors": json.dumps(factors)})
    assert both.status_code == 422 and "send no mask" in both.json()["detail"]


def test_the_segment_stage_learnt_from_training_cases_only(served):
    run = served["path"].parent
    split = pd.read_csv(run / "split.csv", index_col="case_id")["split"]
    meta = json.loads((run / "segmentation" / "segmenter" / "segmenter.json").read_text())
    assert sorted(meta["training_cases"]) == sorted(split.index[split == "train"])
    assert served["bundle"].meta["segmenter"]["training_cases"] == (split == "train").sum()
    summary = pd.read_csv(run / "tables" / "segmentation_summary.csv")
    assert set(summary["metric"]) == {"dice", "iou", "hd95"}


def test_the_serve_command_binds_locally_and_warns_when_exposed(served, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from sonomics.cli import app

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append(kw))
    local = CliRunner().invoke(app, ["serve", str(served["path"])])
    assert local.exit_code == 0, local.output
    assert calls[-1]["host"] == "127.0.0.1" and "warning" not in local.output
    exposed = CliRunner().invoke(app, ["serve", str(served["path"]), "--host", "0.0.0.0",
                                       "--port", "8123"])
    assert exposed.exit_code == 0 and calls[-1] == {"host": "0.0.0.0", "port": 8123,
                                                    "log_level": "warning"}
    assert "no login" in exposed.output
    missing = CliRunner().invoke(app, ["serve", str(served["path"].parent / "nope")])
    assert missing.exit_code == 1 and len(missing.output.strip().splitlines()) == 1
