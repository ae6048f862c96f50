"""How long the CNN stage will take, measured before it starts (a few timed steps).

On a CPU-only machine the paper's profile (three CNNs at 224 px, up to 30 epochs) can run
for many hours; a user should learn that before the stage starts, not after.
"""

from __future__ import annotations

import time

import torch

from sonomics.deep.backbones import build_backbone
from sonomics.deep.runtime import resolve_device


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


def stage_estimate(backbones: list[str], n_train: int, input_size: int, batch_size: int,
                   epochs: int, extra_models: int = 0, device: str = "auto",
                   ) -> tuple[float, str]:
    """(seconds, one-line explanation) of training every backbone for every epoch (an upper
    bound: early stopping can end sooner), plus ``extra_models`` more of the first one
    (the out-of-fold CNNs, each on ``(k - 1) / k`` of the training cases)."""
    steps = max(1, -(-n_train // batch_size)) * epochs
    fold_cases = n_train * (extra_models - 1) // extra_models if extra_models else 0
    fold_steps = max(1, -(-fold_cases // batch_size)) * epochs
    per_step = {b: seconds_per_step(b, input_size, batch_size, device) for b in backbones}
    total = (sum(per_step.values()) * steps
             + extra_models * per_step[backbones[0]] * fold_steps)
    parts = ", ".join(f"{b} {t:.2f} s/step" for b, t in per_step.items())
    return total, (f"{len(backbones) + extra_models} CNN(s) x {epochs} epochs x "
                   f"{steps // epochs} steps ({parts})")
