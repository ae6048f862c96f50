"""Training: validation split, schedule, class weights, loss falls, resume, device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _deep_data import synthetic_crops
from sonomics.config import DeepConfig
from sonomics.deep.figures import plot_training_curve
from sonomics.deep.runtime import loader_workers, resolve_device
from sonomics.deep.train import (
    TrainSettings,
    class_weights,
    cosine_lambda,
    predict_logits,
    train_backbone,
    validation_split,
)


def _settings(**kw) -> TrainSettings:
    base = dict(epochs=2, batch_size=8, learning_rate=1e-3, input_size=32, val_fraction=0.25,
                device="cpu", seed=3)
    base.update(kw)
    return TrainSettings(**base)


def test_settings_come_from_the_config_section():
    s = TrainSettings.from_config(DeepConfig(epochs=5, optimizer="sgd"), seed=9)
    assert (s.epochs, s.optimizer, s.seed, s.input_size) == (5, "sgd", 9, 224)


def test_validation_split_is_stratified_and_keeps_patients_together():
    labels = np.array([0, 1] * 20)
    groups = np.repeat(np.arange(20), 2)  # two images per patient
    train, val = validation_split(labels, groups, 0.2, seed=0)
    assert set(groups[train]).isdisjoint(groups[val])
    assert set(labels[val]) == {0, 1} and len(train) + len(val) == 40
    assert 0.1 < len(val) / 40 < 0.35


def test_validation_split_refuses_too_few_cases():
    with pytest.raises(ValueError, match="deep.val_fraction"):
        validation_split(np.array([0, 0, 0, 1]), np.arange(4), 0.25, seed=0)


def test_cosine_schedule_warms_up_then_decays():
    f = cosine_lambda(total_steps=100, warmup_steps=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.505, abs=0.01)
    assert f(100) == pytest.approx(0.01)


def test_class_weights_balance_the_classes():
    w = class_weights(np.array([0, 0, 0, 1]))
    assert w.tolist() == pytest.approx([4 / 6, 2.0])


def test_device_and_workers_on_cpu():
    assert resolve_device("cpu").type == "cpu"
    assert loader_workers(torch.device("cpu")) == 0
    assert loader_workers(torch.device("cuda")) >= 1


def _loss(result, crops, labels) -> float:
    logits = predict_logits(result.model, crops, result.normaliser)
    return float(torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits), torch.from_numpy(labels.astype(np.float32))))


def test_a_few_steps_make_the_loss_fall_on_separable_data():
    crops, labels = synthetic_crops(n=32, size=32)
    before = train_backbone("resnet18", crops, labels, np.arange(32),
                            _settings(epochs=1), pretrained=False, progress=False, max_steps=0)
    loss_before = _loss(before, crops, labels)
    after = train_backbone("resnet18", crops, labels, np.arange(32), _settings(epochs=3),
                           pretrained=False, progress=False)
    assert _loss(after, crops, labels) < 0.7 * loss_before
    assert after.history["epoch"].tolist()[: after.best_epoch][-1] == after.best_epoch
    assert not np.isnan(after.val_auc)


def test_interrupted_training_resumes_from_its_last_epoch(tmp_path, monkeypatch):
    import sonomics.deep.train as train_module

    crops, labels = synthetic_crops(n=24, size=32, seed=1)
    groups = np.arange(24)
    kw = dict(pretrained=False, progress=False, max_steps=1)
    full = train_backbone("resnet18", crops, labels, groups, _settings(epochs=3),
                          checkpoint_dir=tmp_path / "full", **kw)

    real_predict, calls = train_module.predict_logits, []

    def killed_in_epoch_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(train_module, "predict_logits", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train_backbone("resnet18", crops, labels, groups, _settings(epochs=3),
                       checkpoint_dir=tmp_path / "cut", **kw)
    monkeypatch.setattr(train_module, "predict_logits", real_predict)
    resumed = train_backbone("resnet18", crops, labels, groups, _settings(epochs=3),
                             checkpoint_dir=tmp_path / "cut", **kw)
    assert resumed.resumed_from == 2 and len(resumed.history) == 3
    assert resumed.history["train_loss"].tolist() == pytest.approx(
        full.history["train_loss"].tolist(), rel=1e-4)
    # other settings do not resume from this checkpoint
    other = train_backbone("resnet18", crops, labels, groups, _settings(epochs=1),
                           checkpoint_dir=tmp_path / "cut", **kw)
    assert other.resumed_from == 0


def test_a_finished_run_keeps_only_its_history_and_reruns_without_training(tmp_path):
    crops, labels = synthetic_crops(n=24, size=32, seed=2)
    groups = np.arange(24)
    kw = dict(pretrained=False, progress=False, max_steps=1, checkpoint_dir=tmp_path)
    first = train_backbone("resnet18", crops, labels, groups, _settings(epochs=2), **kw)
    record = torch.load(tmp_path / "last_state.pt", map_location="cpu", weights_only=True)
    # weights live once, in best.safetensors; no optimizer state (2x the model) is kept
    assert not {"model", "optimizer", "scheduler"} & set(record)
    assert (tmp_path / "last_state.pt").stat().st_size < 100_000
    assert (tmp_path / "best.safetensors").stat().st_size > 10_000_000
    again = train_backbone("resnet18", crops, labels, groups, _settings(epochs=2), **kw)
    assert again.resumed_from == 2 and again.epoch_seconds == []
    assert again.best_epoch == first.best_epoch
    np.testing.assert_array_equal(predict_logits(again.model, crops, again.normaliser),
                                  predict_logits(first.model, crops, first.normaliser))


def test_training_curve_is_a_png(tmp_path):
    import pandas as pd

    hist = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.7, 0.5], "val_loss": [0.7, 0.6],
                         "val_auc": [0.6, 0.7], "lr": [1e-3, 1e-4], "seconds": [1.0, 1.0]})
    path = plot_training_curve(hist, tmp_path / "curve.png", best_epoch=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
