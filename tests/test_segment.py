"""The automatic segmenter: learning a lesion, the box prompt, the clean-up rules, the
agreement metrics, resuming after a kill, and ``sonomics segment`` on a tiny cohort."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from _segment_data import blob_set, settings
from sonomics.segment.apply import segment_images
from sonomics.segment.geometry import (
    SegmentationError,
    back_to_image,
    clean_mask,
    frame_of,
    mask_box,
)
from sonomics.segment.metrics import dice, hd95, iou
from sonomics.segment.network import build_segmenter, load_encoder_weights
from sonomics.segment.train import train_segmenter
from sonomics.torch_io import WeightFileError

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def blobs():
    return blob_set(36, seed=0)


@pytest.mark.parametrize("box_prompt", [False, True], ids=["whole-image", "box-prompt"])
def test_a_few_epochs_learn_a_blob(blobs, box_prompt):
    images, masks = blobs
    s = settings(box_prompt=box_prompt)
    trained = train_segmenter(images[:24], masks[:24], np.arange(24), s, progress=False)
    held_back = range(24, 36)
    boxes = [mask_box(masks[i]) for i in held_back] if box_prompt else None
    found = segment_images(trained.model, s, [images[i] for i in held_back],
                           [f"c{i}" for i in held_back], boxes)
    scores = [dice(f.mask, masks[i]) for f, i in zip(found, held_back, strict=True)
              if f.mask is not None]
    assert len(scores) == 12 and np.mean(scores) > 0.8, scores
    assert trained.best_epoch >= 1 and len(trained.history) <= s.epochs
    if box_prompt:  # a box segmenter refuses a case without a box, that case only
        found = segment_images(trained.model, s, images[24:26], ["a", "b"], [None,
                                                                             boxes[1]])
        assert found[0].mask is None and "case a, field 'roi_box'" in found[0].error
        assert found[1].mask is not None


def test_clean_mask_keeps_one_lesion_and_names_the_case_when_there_is_none():
    prob = np.zeros((40, 50), np.float32)
    prob[5:15, 5:15] = 0.9           # large blob
    prob[25:30, 30:35] = 0.9         # small blob
    prob[8:10, 8:10] = 0.1           # a hole in the large one
    kept = clean_mask(prob, min_pixels=5)
    assert kept[5:15, 5:15].all() and not kept[25:30, 30:35].any()  # largest, hole filled
    in_box = clean_mask(prob, box=(28, 23, 40, 32), min_pixels=5)
    assert in_box[25:30, 30:35].all() and not in_box[5:15, 5:15].any()
    border = np.zeros((40, 50), np.float32)
    border[0:12, 40:50] = 0.8        # touches two edges: kept as it is
    assert clean_mask(border, min_pixels=5).sum() == 120
    with pytest.raises(SegmentationError, match="case P7, field 'mask'.*no lesion"):
        clean_mask(np.zeros((10, 10)), case_id="P7")
    with pytest.raises(SegmentationError, match="4 pixels, fewer than 25"):
        clean_mask(np.pad(np.ones((2, 2)), 4), case_id="P8")


def test_frames_and_mapping_back():
    assert frame_of((100, 200), None, 0.3) == frame_of((100, 200), None, 0.0)
    f = frame_of((100, 200), (50, 40, 70, 60), 0.5)  # 20 x 20 box, 10 px context
    assert (f.r0, f.r1, f.c0, f.c1) == (30, 70, 40, 80)
    edge = frame_of((100, 200), (0, 0, 20, 20), 0.5)
    assert (edge.r0, edge.c0) == (0, 0)
    with pytest.raises(ValueError, match="outside the image"):
        frame_of((100, 200), (150, 0, 250, 20), 0.1)
    prob = np.ones((64, 64), np.float32)
    back = back_to_image(prob, f, (100, 200))
    assert back[30:70, 40:80].all() and back.sum() == 40 * 40


def test_agreement_metrics():
    a = np.zeros((50, 50), bool)
    a[10:30, 10:30] = True
    b = np.zeros((50, 50), bool)
    b[10:30, 15:35] = True  # shifted 5 columns
    assert dice(a, b) == pytest.approx(2 * 300 / 800) and iou(a, b) == pytest.approx(300 / 500)
    assert hd95(a, a) == 0
    assert hd95(a, b) == pytest.approx(5.0) and hd95(a, b, (1.0, 0.4)) == pytest.approx(2.0)
    assert np.isnan(hd95(a, np.zeros_like(a)))


def test_a_local_encoder_weight_file_loads(tmp_path):
    from torchvision.models import resnet18

    imagenet_like = resnet18(weights=None).state_dict()
    torch.save(imagenet_like, tmp_path / "resnet18.pth")
    net = build_segmenter("unet-resnet18")
    loaded = load_encoder_weights(net, tmp_path / "resnet18.pth")
    assert loaded >= 100  # every encoder tensor; the fc head ignored
    torch.testing.assert_close(net.encoder.conv1.weight,
                               imagenet_like["conv1.weight"].sum(1, keepdim=True))
    with pytest.raises(ValueError, match="unknown 'unet-none'"):
        build_segmenter("unet-none")


def test_unusable_encoder_weight_files_are_refused_in_one_line_naming_the_key(tmp_path):
    net = build_segmenter("unet-resnet18")
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    torch.save({"epoch": 3}, tmp_path / "no_tensors.pth")
    torch.save({"fc.weight": torch.zeros(2, 512)}, tmp_path / "head_only.pth")
    for name, reason in [("absent.pth", "weight file not found"),
                         ("garbage.pth", "cannot read .* as a state dict .weights-only"),
                         ("no_tensors.pth", ".*no_tensors.pth does not hold a state dict"),
                         ("head_only.pth", "no tensor of head_only.pth fits the encoder")]:
        with pytest.raises(WeightFileError, match=f"config key 'segment.weights': {reason}") as err:
            load_encoder_weights(net, tmp_path / name)
        assert "\n" not in str(err.value)


def test_training_resumes_after_sigkill(tmp_path):
    ckpt = tmp_path / "ckpt"
    child = subprocess.Popen([sys.executable, str(TESTS / "_segment_data.py"), str(ckpt), "5"],
                             cwd=TESTS)
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        state = ckpt / "last_state.pt"
        if state.is_file():
            try:
                if torch.load(state, weights_only=True)["epoch"] >= 2:
                    break
            except (RuntimeError, EOFError, KeyError):
                pass
        time.sleep(0.2)
    child.kill()
    child.wait()
    killed_at = torch.load(ckpt / "last_state.pt", weights_only=True)["epoch"]
    assert 2 <= killed_at < 5, "the child finished before it could be killed"
    images, masks = blob_set(24)
    resumed = train_segmenter(images, masks, np.arange(24), settings(epochs=5),
                              checkpoint_dir=ckpt, progress=False)
    assert resumed.resumed_from == killed_at
    assert list(resumed.history["epoch"]) == list(range(1, len(resumed.history) + 1))
    assert len(resumed.history) == 5


def test_segment_command_trains_on_training_cases_only(tmp_path):
    from typer.testing import CliRunner

    from _study_data import tiny_config
    from sonomics.cli import app
    from sonomics.data.manifest import load_cohort

    cfg = tiny_config(tmp_path, segment={"input_size": 64, "epochs": 3, "batch_size": 8})
    (tmp_path / "study.yaml").write_text(cfg.to_yaml())
    out = tmp_path / "seg"
    result = CliRunner().invoke(app, ["segment", str(tmp_path / "study.yaml"), "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert "test Dice vs reader 1: median" in result.output
    split = pd.read_csv(cfg.out / "split.csv", index_col="case_id")["split"]
    meta = json.loads((out / "segmenter" / "segmenter.json").read_text())
    assert sorted(meta["training_cases"]) == sorted(split.index[split == "train"])
    auto_test = pd.read_csv(out / "manifest_auto_test.csv", index_col="case_id")
    assert (auto_test["split"] == split.loc[auto_test.index]).all()
    sources = auto_test.groupby("split")["mask_source"].agg(set)
    assert sources["train"] == {"manual"} and sources["test"] <= {"auto",
                                                                  "none: segmenter found "
                                                                  "no lesion"}
    summary = pd.read_csv(out / "tables" / "segmentation_summary.csv")
    assert {"auto vs reader1", "auto vs reader2", "reader1 vs reader2"} <= set(
        summary["comparison"])
    cases = pd.read_csv(out / "tables" / "segmentation_test_cases.csv", index_col="case_id")
    assert set(cases.index) == set(split.index[split == "test"])
    assert (out / "figures" / "segmentation_cases.png").stat().st_size > 1000
    icc = pd.read_csv(out / "tables" / "segmentation_feature_icc.csv")
    assert icc["raters"].eq("reader1 vs auto").all() and icc["n_cases"].iloc[0] >= 3
    assert len(icc) == pd.read_csv(out / "tables" / "segmentation_feature_icc_summary.csv"
                                   ).query("image_type == 'all'")["features"].iloc[0]
    assert "radiomics features surviving automation" in result.output
    automatic = cfg.model_copy(update={"data": cfg.data.model_copy(update={
        "manifest": out / "manifest_auto.csv"})})
    auto_all = pd.read_csv(out / "manifest_auto.csv", index_col="case_id")
    assert auto_all["mask_reader2"].isna().all()  # fully automatic: no reader at all
    with_mask = set(auto_all.index[auto_all["mask_source"] == "auto"])
    refused = {p.case_id for p in load_cohort(automatic).errors}
    assert with_mask and not refused & with_mask  # a fully automatic study can start


def test_automatic_rois_are_named_in_every_table_note_and_the_report(tmp_path):
    from _study_data import tiny_config
    from sonomics.study import Study
    from sonomics.study.report import study_notes

    cfg = tiny_config(tmp_path)
    manifest = pd.read_csv(cfg.data.manifest)
    manifest["mask_source"] = ["auto" if i < 5 else "manual" for i in range(len(manifest))]
    manifest.to_csv(cfg.data.manifest, index=False)
    ctx = Study(cfg).context
    expected = f"AUTOMATIC ROIs: 5 of {len(manifest)} cases"
    assert expected in ctx.note() and "SYNTHETIC" in ctx.note()
    assert any(n.startswith(expected.replace(" cases", " cases have")) for n in study_notes(ctx))
