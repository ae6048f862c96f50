"""``deep.time_budget_min``: the CNN stage's epochs set from measured step times, recorded so
that a rerun or a resumed run keeps them."""

from __future__ import annotations

import json

import pytest

from _deep_data import write_cohort
from sonomics.config import StudyConfig
from sonomics.deep import estimate
from sonomics.deep.estimate import epoch_seconds, epochs_for_budget, resolve_budget
from sonomics.deep.pipeline import run_deep


def test_the_budget_buys_whole_epochs_within_one_and_deep_epochs():
    # 700 s for epochs of 100 s (x 1.1 for data loading and checkpoints): 6 epochs
    assert epochs_for_budget(700, 100, max_epochs=30) == 6
    assert epochs_for_budget(600, 100, max_epochs=3) == 3  # deep.epochs stays the ceiling
    assert epochs_for_budget(10, 100, max_epochs=30) == 1  # never zero
    with pytest.raises(ValueError, match="deep.time_budget_min"):
        epochs_for_budget(0, 100, max_epochs=30)


def test_an_epoch_counts_every_cnn_the_stage_trains():
    # 100 training cases, batches of 10: 10 steps per full CNN; 3 out-of-fold CNNs see
    # 66 cases each (7 steps) of the first backbone
    per_step = {"resnet18": 1.0, "densenet121": 2.0}
    assert epoch_seconds(per_step, 100, 10) == 30.0
    assert epoch_seconds(per_step, 100, 10, extra_models=3) == 30.0 + 3 * 7 * 1.0


def test_an_epoch_trains_on_what_the_validation_carve_out_leaves_and_scores_the_rest():
    # 100 cases, 20 % carved out: 8 training steps of 10 and 2 batches scored (a forward
    # pass is a third of a step); each fold CNN: 66 cases, 13 carved out -> 6 + 2 / 3
    per_step = {"resnet18": 3.0}
    assert epoch_seconds(per_step, 100, 10, val_fraction=0.2) == pytest.approx(3 * (8 + 2 / 3))
    assert epoch_seconds(per_step, 100, 10, extra_models=3, val_fraction=0.2) == pytest.approx(
        3 * (8 + 2 / 3) + 3 * 3 * (6 + 2 / 3))


def test_the_step_time_is_the_median_after_the_slow_first_steps(monkeypatch):
    # a fresh network's first steps are slow (allocator, kernel set-up): the two warm-up
    # steps of 5 s must not count, and one slow step among the timed five does not move it
    durations = iter([5.0, 5.0, 1.0, 1.2, 4.0, 0.9, 1.1])
    clock = {"now": 0.0, "started": False}

    def fake_clock():
        if clock["started"]:
            clock["now"] += next(durations)
        clock["started"] = not clock["started"]
        return clock["now"]

    monkeypatch.setattr(estimate.time, "perf_counter", fake_clock)
    assert estimate.seconds_per_step("resnet18", 32, 2, device="cpu") == pytest.approx(1.1)


def test_the_choice_is_measured_once_and_read_back(tmp_path, monkeypatch):
    calls = []

    def fake_step(name, input_size, batch_size, device="auto"):
        calls.append(name)
        return 0.5

    monkeypatch.setattr(estimate, "seconds_per_step", fake_step)
    args = dict(backbones=["resnet18"], n_train=64, input_size=32, batch_size=16,
                max_epochs=50, extra_models=0, device="cpu", cache_dir=tmp_path)
    first = resolve_budget(1.0, **args)  # 4 steps x 0.5 s = 2 s per epoch: 60 / 2.2 -> 27
    assert first["epochs"] == 27 and first["seconds_per_epoch"] == 2.0 and calls == ["resnet18"]
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *a, **k: 1 / 0)  # must not run
    assert resolve_budget(1.0, **args) == first
    assert json.loads(next(tmp_path.glob("time_budget-*.json")).read_text()) == first
    monkeypatch.setattr(estimate, "seconds_per_step", fake_step)
    assert resolve_budget(2.0, **args)["epochs"] == 50  # another budget is measured anew


def test_the_stage_trains_the_epochs_the_budget_allows(tmp_path, monkeypatch):
    # 16 training cases, 4 carved out for validation, in batches of 8, every step
    # "costing" 10 s: 2 steps and a validation pass, 23.3 s per epoch (25.7 s with the
    # margin), so a 1-minute budget buys 2 epochs, below the ceiling of 6
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *a, **k: 10.0)
    cases = write_cohort(tmp_path / "data", n=24)
    cfg = StudyConfig(deep=dict(backbones=["resnet18"], input_size=32, epochs=6, batch_size=8,
                                val_fraction=0.25, learning_rate=1e-3, isolate=False,
                                early_stopping=6, time_budget_min=1.0),
                      fusion=dict(deep_input="features"))
    result = run_deep(cases, cfg, tmp_path / "run", progress=False, pretrained=False)
    summary = json.loads((tmp_path / "run" / "deep" / "deep_summary.json").read_text())
    assert summary["epochs"] == 2 and summary["time_budget"]["epochs"] == 2
    assert list(result.trained["resnet18"].history["epoch"]) == [1, 2]
    note = (tmp_path / "run" / "tables" / "table5_deep.md").read_text()
    assert "set by deep.time_budget_min = 1 min for 1 CNN(s)" in note


def _fake_steps(monkeypatch, seconds: float = 0.5) -> None:
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *a, **k: seconds)


def test_a_study_deadline_cuts_the_budget_to_what_the_slow_stages_left(tmp_path, monkeypatch):
    # 64 training cases in batches of 16 at 0.5 s a step: 2 s an epoch (2.2 with the
    # margin). The study may take 600 s; 100 s are set aside for the stages after the CNNs,
    # and scoring 96 cases costs 2 x 2 s / 3 x 96 / 64 = 2 s: what is left trains.
    _fake_steps(monkeypatch)
    args = dict(backbones=["resnet18"], n_train=64, input_size=32, batch_size=16,
                max_epochs=500, extra_models=0, device="cpu", n_cases=96)
    alone = resolve_budget(5.0, **args)["epochs"]  # 300 s: 136 epochs
    fast = resolve_budget(5.0, **args, deadline=estimate.Deadline(600, 100, 100))
    slow = resolve_budget(5.0, **args, deadline=estimate.Deadline(600, 400, 100))
    assert alone == 136 and fast["epochs"] == alone  # 398 s left: the budget's cap holds
    assert slow["epochs"] == 44  # 98 s left: 98 / 2.2
    assert slow["deadline"]["spent_seconds"] == 400 and slow["deadline"]["own_seconds"] >= 2
    assert slow["training_min"] == pytest.approx(98 / 60, abs=0.01)
    late = resolve_budget(5.0, **args, deadline=estimate.Deadline(600, 700, 100))
    assert late["epochs"] == 1 and late["training_min"] == 0  # passed: one epoch, not none


def test_a_resumed_run_keeps_the_epochs_its_deadline_bought(tmp_path, monkeypatch):
    # the seconds already spent are not part of the record's key: a resumed run (whose
    # stages before the CNNs took other times, or none) reads the first choice back
    _fake_steps(monkeypatch)
    args = dict(backbones=["resnet18"], n_train=64, input_size=32, batch_size=16,
                max_epochs=500, device="cpu", cache_dir=tmp_path, n_cases=96)
    first = resolve_budget(5.0, **args, deadline=estimate.Deadline(600, 400, 100))
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *a, **k: 1 / 0)  # must not run
    assert resolve_budget(5.0, **args, deadline=estimate.Deadline(600, 0, 100)) == first
    _fake_steps(monkeypatch)
    other = resolve_budget(5.0, **args, deadline=estimate.Deadline(900, 400, 100))
    assert other["epochs"] > first["epochs"]  # another deadline is another choice


def test_the_study_counts_the_stages_before_the_cnns_and_estimates_those_after(tmp_path):
    from rich.console import Console

    from sonomics.rundir import RunDir
    from sonomics.study.context import StudyContext
    from sonomics.study.deep import AFTER_FUSION_SECONDS, study_deadline

    markers = tmp_path / "cache" / "stages"
    markers.mkdir(parents=True)
    # fusion's marker is a previous run's: it comes after the CNNs and must not count
    for name, seconds in {"validate": 5, "clinical": 20, "radiomics": 100,
                          "radiomics_model": 60, "fusion": 999}.items():
        (markers / f"{name}.json").write_text(json.dumps({"seconds": seconds}))
    cfg = StudyConfig(out=tmp_path, deep=dict(time_budget_min=6, finish_within_min=9.5))
    order = ["validate", "split", "clinical", "radiomics", "radiomics_model", "deep", "fusion"]
    ctx = StudyContext(cfg, RunDir(tmp_path), Console(quiet=True), stage_order=order)
    assert study_deadline(ctx) == estimate.Deadline(570, 185, 60 + AFTER_FUSION_SECONDS)
    cfg.deep.finish_within_min = None
    assert study_deadline(ctx) is None


def test_a_cut_budget_trains_fewer_epochs_and_table5_says_why(tmp_path, monkeypatch):
    # as in the test above (25.7 s per epoch with the margin, 24 cases scored twice at a
    # third of a step per batch of 8: 2 x 3 x 10 / 3 = 20 s); the study has 90 s left
    # before the 30 s set aside for the stages after it: one epoch instead of two
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *a, **k: 10.0)
    cases = write_cohort(tmp_path / "data", n=24)
    cfg = StudyConfig(deep=dict(backbones=["resnet18"], input_size=32, epochs=6, batch_size=8,
                                val_fraction=0.25, learning_rate=1e-3, isolate=False,
                                early_stopping=6, time_budget_min=1.0, finish_within_min=2.0),
                      fusion=dict(deep_input="features"))
    run_deep(cases, cfg, tmp_path / "run", progress=False, pretrained=False,
             deadline=estimate.Deadline(120, 30, 30))
    summary = json.loads((tmp_path / "run" / "deep" / "deep_summary.json").read_text())
    assert summary["epochs"] == 1 and summary["time_budget"]["deadline"]["spent_seconds"] == 30
    note = (tmp_path / "run" / "tables" / "table5_deep.md").read_text()
    assert "cut to" in note and "deep.finish_within_min = 2 min" in note
