"""How long the CNN stage will take, measured before it starts (a few timed steps).

On a CPU-only machine the paper's profile (three CNNs at 224 px, up to 30 epochs) can run
for many hours; a user should learn that before the stage starts, not after. The same
measurement turns a time budget (``deep.time_budget_min``) into a number of epochs, so a
CPU user can ask for "as much training as 20 minutes allow" instead of guessing epochs.
"""

from __future__ import annotations

import json
import statistics
import time
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


def resolve_budget(budget_min: float, backbones: list[str], n_train: int, input_size: int,
                   batch_size: int, max_epochs: int, extra_models: int = 0,
                   device: str = "auto", cache_dir: Path | None = None,
                   val_fraction: float = 0.0) -> dict:
    """The epochs a time budget allows, measured once per set of inputs: a rerun or a
    resumed run reads the recorded choice from ``cache_dir`` instead of measuring again,
    so its epochs (and so its checkpoints and results) do not move with the machine's
    load. Returns the budget, the measured seconds per step and per epoch, and the epochs."""
    key = stable_hash({"budget_min": budget_min, "backbones": backbones, "n_train": n_train,
                       "input_size": input_size, "batch_size": batch_size,
                       "max_epochs": max_epochs, "extra_models": extra_models,
                       "val_fraction": val_fraction,
                       "device": resolve_device(device).type})[:16]
    path = None if cache_dir is None else Path(cache_dir) / f"time_budget-{key}.json"
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    per_step = measure_steps(backbones, input_size, batch_size, device)
    per_epoch = epoch_seconds(per_step, n_train, batch_size, extra_models, val_fraction)
    choice = {"budget_min": budget_min, "seconds_per_step": per_step,
              "seconds_per_epoch": per_epoch, "cnns": len(backbones) + extra_models,
              "epochs": epochs_for_budget(budget_min * 60, per_epoch, max_epochs),
              "max_epochs": max_epochs}
    if path is not None:
        atomic_write_text(path, json.dumps(choice, indent=2))
    return choice
