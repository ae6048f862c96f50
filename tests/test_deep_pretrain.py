"""Self-supervised (SimCLR) pretraining: the loss against its definition, training images
only, weights usable as ``deep.weights``, resuming after SIGKILL."""

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
from safetensors.torch import load_file

from _deep_data import synthetic_crops, write_cohort
from sonomics.config import StudyConfig
from sonomics.deep.backbones import build_backbone
from sonomics.deep.pipeline import run_deep
from sonomics.deep.pretrain import PretrainSettings, nt_xent, pretrain_backbone

TESTS = Path(__file__).parent


def test_nt_xent_equals_its_definition():
    # l(i, j) = -log(exp(s_ij / t) / sum_{k != i} exp(s_ik / t)), s = cosine similarity,
    # averaged over all 2n views (Chen et al. 2020, eq. 1), written out with numpy
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    z = np.concatenate([z1, z2])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    t, n = 0.5, 3
    losses = []
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = sum(np.exp(z[i] @ z[k] / t) for k in range(2 * n) if k != i)
        losses.append(-np.log(np.exp(z[i] @ z[j] / t) / others))
    got = nt_xent(torch.tensor(z1), torch.tensor(z2), t)
    assert float(got) == pytest.approx(np.mean(losses), rel=1e-10)


def _settings(epochs: int) -> PretrainSettings:
    return PretrainSettings(epochs=epochs, batch_size=8, input_size=32, projection_dim=16,
                            device="cpu")


def test_pretrained_weights_load_through_deep_weights(tmp_path):
    crops, _ = synthetic_crops(n=16, size=32)
    out = tmp_path / "pretrained.safetensors"
    history = pretrain_backbone("mobilenet_v3_small", crops, _settings(2),
                                checkpoint_dir=tmp_path / "c", out_file=out, progress=False)
    assert list(history["epoch"]) == [1, 2] and np.isfinite(history["loss"]).all()
    net = build_backbone("mobilenet_v3_small", weights_path=out)
    saved = load_file(str(out))
    assert net.weights_source == f"file:{out}"
    torch.testing.assert_close(net.trunk[0][0].weight, saved["trunk.0.0.weight"])
    fresh = build_backbone("mobilenet_v3_small", pretrained=False)
    assert not torch.equal(saved["trunk.0.0.weight"], fresh.trunk[0][0].weight)


CHILD = """
import sys
sys.path.insert(0, {tests!r})
from test_deep_pretrain import _settings
from _deep_data import synthetic_crops
from sonomics.deep.pretrain import pretrain_backbone
crops, _ = synthetic_crops(n=16, size=32)
pretrain_backbone("mobilenet_v3_small", crops, _settings(6), checkpoint_dir={ckpt!r},
                  out_file={out!r}, progress=False)
"""


def test_pretraining_resumes_after_sigkill_as_if_never_killed(tmp_path):
    ckpt, out = tmp_path / "ckpt", tmp_path / "w.safetensors"
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(
        tests=str(TESTS), ckpt=str(ckpt), out=str(out))], cwd=TESTS)
    deadline = time.time() + 240
    while time.time() < deadline and child.poll() is None:
        try:
            if torch.load(ckpt / "last_state.pt", weights_only=True)["epoch"] >= 2:
                break
        except (FileNotFoundError, RuntimeError, EOFError, KeyError):
            pass
        time.sleep(0.2)
    child.kill()
    child.wait()
    killed = torch.load(ckpt / "last_state.pt", weights_only=True)
    assert 2 <= killed["epoch"] < 6 and not out.exists(), "the child finished first"
    crops, _ = synthetic_crops(n=16, size=32)
    resumed = pretrain_backbone("mobilenet_v3_small", crops, _settings(6), checkpoint_dir=ckpt,
                                out_file=out, progress=False)
    assert list(resumed["epoch"]) == list(range(1, 7))
    pd.testing.assert_frame_equal(resumed.iloc[:killed["epoch"]],  # kept, not recomputed
                                  pd.DataFrame(killed["history"]), check_dtype=False)
    # the same weights as a run never killed: each epoch reseeds its views and batches
    whole = tmp_path / "whole.safetensors"
    pretrain_backbone("mobilenet_v3_small", crops, _settings(6), checkpoint_dir=tmp_path / "w",
                      out_file=whole, progress=False)
    a, b = load_file(str(out)), load_file(str(whole))
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def _study_config(folder: Path) -> StudyConfig:
    return StudyConfig(deep=dict(backbones=["mobilenet_v3_small"], input_size=32, epochs=1,
                                 batch_size=8, val_fraction=0.25, isolate=False,
                                 pretrain=dict(epochs=1, batch_size=8, folder=folder)),
                       fusion=dict(deep_input="features"))


def test_a_study_pretrains_on_its_training_images_and_the_folder_only(tmp_path):
    cases = write_cohort(tmp_path / "data", n=24)
    other = write_cohort(tmp_path / "other", n=4, seed=9)
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for path in other["image"]:
        (folder / Path(path).name).write_bytes(Path(path).read_bytes())
    run = tmp_path / "run"
    result = run_deep(cases, _study_config(folder), run, progress=False, pretrained=False,
                      max_steps=1)
    seen = pd.read_csv(run / "deep" / "pretrain_images.csv")
    train_ids = set(cases.index[cases["split"] == "train"])
    assert set(seen.loc[seen["source"] == "training case", "image"]) == train_ids
    assert sorted(seen.loc[seen["source"] == "folder", "image"]) == sorted(
        str(folder / Path(p).name) for p in other["image"])
    weights = run / "deep" / "pretrained_mobilenet_v3_small.safetensors"
    assert result.trained["mobilenet_v3_small"].weights_source == f"file:{weights}"
    summary = json.loads((run / "deep" / "deep_summary.json").read_text())
    assert summary["self_supervised_weights"] == {"mobilenet_v3_small": str(weights)}
    note = (run / "tables" / "table5_deep.md").read_text()
    assert "pretrained with SimCLR for 1 epochs on 20 unlabelled images" in note
    assert "RANDOM initialisation" not in note


def test_a_folder_holding_a_test_image_is_refused(tmp_path):
    cases = write_cohort(tmp_path / "data", n=24)
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    test_case = cases.index[cases["split"] == "test"][0]
    (folder / "copy.png").write_bytes(Path(cases.loc[test_case, "image"]).read_bytes())
    with pytest.raises(ValueError, match=f"copy.png is the image of case {test_case}"):
        run_deep(cases, _study_config(folder), tmp_path / "run", progress=False,
                 pretrained=False, max_steps=1)
