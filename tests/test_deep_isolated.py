"""Training in a child process (deep.isolate): the same result as in-process training, the
study's process loads the finished run instead of training, and the child dies with it."""

from __future__ import annotations

import signal
import sys

import numpy as np
import pytest

from _deep_data import synthetic_crops
from sonomics.deep.isolated import _die_with_parent, train_isolated
from sonomics.deep.train import TrainSettings, predict_logits, train_backbone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="child-process training is Linux only")


def _settings() -> TrainSettings:
    return TrainSettings(epochs=2, batch_size=8, learning_rate=1e-3, input_size=32,
                         val_fraction=0.25, device="cpu", seed=3)


def test_a_cnn_trained_in_a_child_equals_one_trained_in_process(tmp_path, caplog):
    crops, labels = synthetic_crops(n=24, size=32, seed=4)
    groups = np.arange(24)
    kw = dict(pretrained=False, progress=False, max_steps=2)
    with caplog.at_level("WARNING"):
        child = train_isolated("resnet18", crops, labels, groups, _settings(),
                               checkpoint_dir=tmp_path / "child", **kw)
    # the study's process trained nothing: it loaded the child's finished run ...
    assert "trained again" not in caplog.text
    # ... and reports the child's training, not its own reload (was: resumed at epoch 2,
    # no epoch times)
    assert len(child.epoch_seconds) == 2 and child.resumed_from == 0
    assert (tmp_path / "child" / "best.safetensors").is_file()
    here = train_backbone("resnet18", crops, labels, groups, _settings(),
                          checkpoint_dir=tmp_path / "here", **kw)
    assert here.epoch_seconds  # trained in this process
    assert child.best_epoch == here.best_epoch
    np.testing.assert_allclose(child.history["train_loss"], here.history["train_loss"],
                               rtol=1e-5)
    np.testing.assert_allclose(predict_logits(child.model, crops, child.normaliser),
                               predict_logits(here.model, crops, here.normaliser),
                               rtol=1e-4, atol=1e-5)


def test_without_a_checkpoint_folder_or_when_off_it_trains_in_process(tmp_path):
    crops, labels = synthetic_crops(n=24, size=32, seed=4)
    kw = dict(pretrained=False, progress=False, max_steps=1)
    assert train_isolated("resnet18", crops, labels, np.arange(24), _settings(),
                          checkpoint_dir=None, **kw).epoch_seconds
    assert train_isolated("resnet18", crops, labels, np.arange(24), _settings(),
                          checkpoint_dir=tmp_path, isolate=False, **kw).epoch_seconds


def _death_signal() -> int:
    import ctypes

    value = ctypes.c_int()
    ctypes.CDLL("libc.so.6").prctl(2, ctypes.byref(value))  # PR_GET_PDEATHSIG
    return value.value


def test_the_training_child_is_killed_with_the_study_process():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, initializer=_die_with_parent) as pool:
        assert pool.submit(_death_signal).result() == signal.SIGKILL
