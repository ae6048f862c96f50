"""Training files shared by the CNN and the segmenter, written atomically so that a run
killed mid-write leaves the previous file intact.

Weights are safetensors (tensors only: no code can ride in them); the resumable training
state is ``torch.save`` of plain dicts, read back with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from sonomics.io import atomic_path


def write_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """A model's state dict as a safetensors file."""
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def write_state(state: dict, path: Path) -> None:
    """A training state (epoch, history, optimiser, ...) for resuming."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_weights(model: torch.nn.Module, path: Path) -> None:
    """Load a safetensors file written by :func:`write_weights` into ``model``."""
    model.load_state_dict(load_file(str(path)))


def read_state(path: Path) -> dict:
    """A training state written by :func:`write_state`, tensors on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)
