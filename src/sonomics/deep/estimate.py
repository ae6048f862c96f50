"""How long the CNN stage will take, measured before it starts (a few timed steps).

On a CPU-only machine the paper's profile (three CNNs at 224 px, up to 30 epochs) can run
for many hours; a user should learn that before the stage starts, not after. The same
measurement turns a time budget (``deep.time_budget_min``) into a number of epochs, so a
CPU user can ask for "as much training as 20 minutes allow" instead of guessing epochs.
A :class:`Deadline` narrows that budget to what a whole study's time target leaves.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from sonomics.deep.backbones import build_backbone
from sonomics.deep.runtime import resolve_device
from sonomics.io import atomic_write_text, stable_hash


def step_times(name: str, input_size: int, batch_size: int, device: str,
               n: int) -> list[float]:
    """Seconds of each of ``n`` training steps (forward, backward, update) of a fresh
    ``name`` on random data; random weights (the cost does not depend on them)."""
    dev = resolve_device(device)
    net = build_backbone(name, pretrained=False).to(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 3, input_size, input_size, device=dev)
    y = torch.randint(0, 2, (batch_size,), device=dev).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    times = []
    for _ in range(n):
        tic = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x).squeeze(-1), y).backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - tic)
    return times


def seconds_per_step(name: str, input_size: int, batch_size: int, device: str = "auto",
                     warmup: int = 2, steps: int = 5) -> float:
    """Median seconds of one training step of ``name`` (:func:`step_times`).

    The first steps in a fresh process run up to 3x slower than the rest (allocator and
    kernel set-up), so ``warmup`` steps are discarded and the median of ``steps`` more is
    returned, which one slow step (another process's burst) does not move. On a 2-core CPU
    it is within 5 % of the steady step; the slower of two steps after one warm-up, used
    before, read 1.10x (``benchmarks/step_timer.py``, ``benchmarks/BENCHMARKS.md``)."""
    times = step_times(name, input_size, batch_size, device, warmup + steps)
    return float(statistics.median(times[warmup:]))


#: a forward pass (validation scoring) costs about this share of a training step
FORWARD_SHARE = 1 / 3
#: a margin for what an epoch does beyond its timed steps (data loading, augmentation,
#: checkpoints); the deep summary records the budget beside the time taken
EPOCH_OVERHEAD = 1.1


def _steps(n_cases: int, batch_size: int) -> int:
    return max(1, -(-n_cases // batch_size))


def _carved(n_cases: int, val_fraction: float) -> int:
    """Cases the validation carve-out takes from ``n_cases`` (the rest trains)."""
    return round(n_cases * val_fraction)


def epoch_seconds(per_step: dict[str, float], n_train: int, batch_size: int,
                  extra_models: int = 0, val_fraction: float = 0.0) -> float:
    """Seconds of ONE epoch of every CNN the stage trains: each backbone on the training
    cases, plus ``extra_models`` more of the first one (the out-of-fold CNNs, each on
    ``(k - 1) / k`` of them). Each CNN takes training steps on the cases left after its
    validation carve-out (``val_fraction``) and scores the carve-out once (a forward pass,
    about a third of a training step)."""
    def one(cases: int, step: float) -> float:
        val = _carved(cases, val_fraction)
        fit = _steps(cases - val, batch_size)
        return step * (fit + (_steps(val, batch_size) * FORWARD_SHARE if val else 0.0))

    fold_cases = n_train * (extra_models - 1) // extra_models if extra_models else 0
    first = next(iter(per_step.values()))
    return (sum(one(n_train, step) for step in per_step.values())
            + extra_models * one(fold_cases, first))


def measure_steps(backbones: list[str], input_size: int, batch_size: int,
                  device: str = "auto") -> dict[str, float]:
    """Measured seconds per training step of each backbone."""
    return {b: seconds_per_step(b, input_size, batch_size, device) for b in backbones}


def stage_estimate(backbones: list[str], n_train: int, input_size: int, batch_size: int,
                   epochs: int, extra_models: int = 0, device: str = "auto",
                   val_fraction: float = 0.0) -> tuple[float, str]:
    """(seconds, one-line explanation) of training every backbone for every epoch (an upper
    bound: early stopping can end sooner), plus ``extra_models`` more of the first one
    (the out-of-fold CNNs, each on ``(k - 1) / k`` of the training cases)."""
    per_step = measure_steps(backbones, input_size, batch_size, device)
    total = epochs * epoch_seconds(per_step, n_train, batch_size, extra_models, val_fraction)
    parts = ", ".join(f"{b} {t:.2f} s/step" for b, t in per_step.items())
    return total, (f"{len(backbones) + extra_models} CNN(s) x {epochs} epochs x "
                   f"{_steps(n_train - _carved(n_train, val_fraction), batch_size)} steps "
                   f"({parts})")


def epochs_for_budget(budget_seconds: float, seconds_per_epoch: float, max_epochs: int) -> int:
    """How many epochs of every CNN fit in the budget: at least 1, at most ``max_epochs``
    (``deep.epochs`` stays the ceiling; early stopping can still end sooner)."""
    if budget_seconds <= 0 or seconds_per_epoch <= 0:
        raise ValueError("config key 'deep.time_budget_min': must be > 0")
    fit = int(budget_seconds // (seconds_per_epoch * EPOCH_OVERHEAD))
    return max(1, min(max_epochs, fit))


@dataclass(frozen=True)
class Deadline:
    """A study's time target as the CNN stage sees it (``deep.finish_within_min``): the
    seconds the whole study may take, those its stages before the CNN stage took, and an
    estimate of those after it. The CNNs train for what is left (see :func:`resolve_budget`)."""

    total_seconds: float
    spent_seconds: float
    after_seconds: float

    def left(self, own_seconds: float) -> float:
        """Seconds left for training once the CNN stage's ``own_seconds`` of other work
        (measuring, scoring, features, Grad-CAM) are set aside; can be negative."""
        return self.total_seconds - self.spent_seconds - self.after_seconds - own_seconds


def scoring_seconds(seconds_per_epoch: float, n_train: int, n_cases: int) -> float:
    """What the CNN stage does besides training, estimated from one epoch: every CNN scores
    every case once (a forward pass, :data:`FORWARD_SHARE` of a step), and the features,
    the out-of-fold scores and Grad-CAM cost about as much again."""
    return 2 * seconds_per_epoch * FORWARD_SHARE * n_cases / max(n_train, 1)


def resolve_budget(budget_min: float, backbones: list[str], n_train: int, input_size: int,
                   batch_size: int, max_epochs: int, extra_models: int = 0,
                   device: str = "auto", cache_dir: Path | None = None,
                   val_fraction: float = 0.0, deadline: Deadline | None = None,
                   n_cases: int | None = None) -> dict:
    """The epochs a time budget allows, measured once per set of inputs: a rerun or a
    resumed run reads the recorded choice from ``cache_dir`` instead of measuring again,
    so its epochs (and so its checkpoints and results) do not move with the machine's
    load. Returns the budget, the measured seconds per step and per epoch, and the epochs.

    With a ``deadline`` the budget is also at most what the deadline leaves after the
    measurement and the stage's other work on ``n_cases`` cases (:func:`scoring_seconds`);
    the record then says how it was cut (``deadline``). The deadline's total is part of
    the record's key, the seconds already spent are not: a resumed run keeps its epochs."""
    key_parts = {"budget_min": budget_min, "backbones": backbones, "n_train": n_train,
                 "input_size": input_size, "batch_size": batch_size,
                 "max_epochs": max_epochs, "extra_models": extra_models,
                 "val_fraction": val_fraction, "device": resolve_device(device).type}
    if deadline is not None:
        key_parts["deadline_seconds"] = deadline.total_seconds
    key = stable_hash(key_parts)[:16]
    path = None if cache_dir is None else Path(cache_dir) / f"time_budget-{key}.json"
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    tic = time.perf_counter()
    per_step = measure_steps(backbones, input_size, batch_size, device)
    measured = time.perf_counter() - tic
    per_epoch = epoch_seconds(per_step, n_train, batch_size, extra_models, val_fraction)
    seconds = budget_min * 60
    choice = {"budget_min": budget_min, "seconds_per_step": per_step,
              "seconds_per_epoch": per_epoch, "cnns": len(backbones) + extra_models}
    if deadline is not None:
        own = measured + scoring_seconds(per_epoch, n_train, n_cases or n_train)
        left = deadline.left(own)
        choice["deadline"] = {"total_min": deadline.total_seconds / 60,
                              "spent_seconds": round(deadline.spent_seconds, 1),
                              "after_seconds": round(deadline.after_seconds, 1),
                              "own_seconds": round(own, 1),
                              "left_min": round(max(left, 0.0) / 60, 2)}
        seconds = min(seconds, left)
    choice["training_min"] = round(max(seconds, 0.0) / 60, 2)
    # a deadline already passed still trains one epoch: a study without its CNN is no study
    choice["epochs"] = (epochs_for_budget(seconds, per_epoch, max_epochs) if seconds > 0
                        else 1)
    choice["max_epochs"] = max_epochs
    if path is not None:
        atomic_write_text(path, json.dumps(choice, indent=2))
    return choice


def budget_note(choice: dict, epochs: int) -> str:
    """Table 5's sentence on what the time budget (and the study's deadline) bought."""
    note = (f" Epochs: at most {epochs}, set by deep.time_budget_min = "
            f"{choice['budget_min']:g} min for {choice['cnns']} CNN(s) from measured step "
            f"times ({choice['seconds_per_epoch']:.0f} s per epoch of all of them)")
    cut = choice.get("deadline")
    if cut and choice["training_min"] < choice["budget_min"]:
        note += (f", cut to {choice['training_min']:g} min by deep.finish_within_min = "
                 f"{cut['total_min']:g} min (the stages before took "
                 f"{cut['spent_seconds']:.0f} s; {cut['after_seconds']:.0f} s were set aside "
                 "for those after)")
    return note + "."
