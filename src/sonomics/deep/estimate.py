"""How long the CNN stage will take, measured before it starts (a few timed steps).

On a CPU-only machine the paper's profile (three CNNs at 224 px, up to 30 epochs) can run
for many hours; a user should learn that before the stage starts, not after. The same
measurement turns a time budget (``deep.time_budget_min``) into a number of epochs, so a
CPU user can ask for "as much training as 20 minutes allow" instead of guessing epochs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from sonomics.deep.backbones import build_backbone
from sonomics.deep.runtime import resolve_device
from sonomics.io import atomic_write_text, stable_hash


def seconds_per_step(name: str, input_size: int, batch_size: int, device: str = "auto",
                     steps: int = 2) -> float:
    """Median seconds of one training step (forward, backward, update) of ``name`` on
    random data, after one warm-up step; random weights (the cost does not depend on them)."""
    dev = resolve_device(device)
    net = build_backbone(name, pretrained=False).to(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = torch.randn(batch_size, 3, input_size, input_size, device=dev)
    y = torch.randint(0, 2, (batch_size,), device=dev).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    times = []
    for _ in range(steps + 1):
        tic = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x).squeeze(-1), y).backward()
        opt.step()
        times.append(time.perf_counter() - tic)
    return float(sorted(times[1:])[len(times[1:]) // 2])


def _steps(n_cases: int, batch_size: int) -> int:
    return max(1, -(-n_cases // batch_size))


def epoch_seconds(per_step: dict[str, float], n_train: int, batch_size: int,
                  extra_models: int = 0) -> float:
    """Seconds of ONE epoch of every CNN the stage trains: each backbone on the training
    cases, plus ``extra_models`` more of the first one (the out-of-fold CNNs, each on
    ``(k - 1) / k`` of them)."""
    fold_cases = n_train * (extra_models - 1) // extra_models if extra_models else 0
    first = next(iter(per_step.values()))
    return (sum(per_step.values()) * _steps(n_train, batch_size)
            + extra_models * first * _steps(fold_cases, batch_size))


def measure_steps(backbones: list[str], input_size: int, batch_size: int,
                  device: str = "auto") -> dict[str, float]:
    """Measured seconds per training step of each backbone."""
    return {b: seconds_per_step(b, input_size, batch_size, device) for b in backbones}


def stage_estimate(backbones: list[str], n_train: int, input_size: int, batch_size: int,
                   epochs: int, extra_models: int = 0, device: str = "auto",
                   ) -> tuple[float, str]:
    """(seconds, one-line explanation) of training every backbone for every epoch (an upper
    bound: early stopping can end sooner), plus ``extra_models`` more of the first one
    (the out-of-fold CNNs, each on ``(k - 1) / k`` of the training cases)."""
    per_step = measure_steps(backbones, input_size, batch_size, device)
    total = epochs * epoch_seconds(per_step, n_train, batch_size, extra_models)
    parts = ", ".join(f"{b} {t:.2f} s/step" for b, t in per_step.items())
    return total, (f"{len(backbones) + extra_models} CNN(s) x {epochs} epochs x "
                   f"{_steps(n_train, batch_size)} steps ({parts})")


#: a margin for what an epoch does beyond its timed training steps (validation pass,
#: data loading, checkpoint); the deep summary records the budget beside the time taken
EPOCH_OVERHEAD = 1.2


def epochs_for_budget(budget_seconds: float, seconds_per_epoch: float, max_epochs: int) -> int:
    """How many epochs of every CNN fit in the budget: at least 1, at most ``max_epochs``
    (``deep.epochs`` stays the ceiling; early stopping can still end sooner)."""
    if budget_seconds <= 0 or seconds_per_epoch <= 0:
        raise ValueError("config key 'deep.time_budget_min': must be > 0")
    fit = int(budget_seconds // (seconds_per_epoch * EPOCH_OVERHEAD))
    return max(1, min(max_epochs, fit))


def resolve_budget(budget_min: float, backbones: list[str], n_train: int, input_size: int,
                   batch_size: int, max_epochs: int, extra_models: int = 0,
                   device: str = "auto", cache_dir: Path | None = None) -> dict:
    """The epochs a time budget allows, measured once per set of inputs: a rerun or a
    resumed run reads the recorded choice from ``cache_dir`` instead of measuring again,
    so its epochs (and so its checkpoints and results) do not move with the machine's
    load. Returns the budget, the measured seconds per step and per epoch, and the epochs."""
    key = stable_hash({"budget_min": budget_min, "backbones": backbones, "n_train": n_train,
                       "input_size": input_size, "batch_size": batch_size,
                       "max_epochs": max_epochs, "extra_models": extra_models,
                       "device": resolve_device(device).type})[:16]
    path = None if cache_dir is None else Path(cache_dir) / f"time_budget-{key}.json"
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    per_step = measure_steps(backbones, input_size, batch_size, device)
    per_epoch = epoch_seconds(per_step, n_train, batch_size, extra_models)
    choice = {"budget_min": budget_min, "seconds_per_step": per_step,
              "seconds_per_epoch": per_epoch, "cnns": len(backbones) + extra_models,
              "epochs": epochs_for_budget(budget_min * 60, per_epoch, max_epochs),
              "max_epochs": max_epochs}
    if path is not None:
        atomic_write_text(path, json.dumps(choice, indent=2))
    return choice
