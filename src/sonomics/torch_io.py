"""Training files shared by the CNN and the segmenter, written atomically so that a run
killed mid-write leaves the previous file intact.

Weights are safetensors (tensors only: no code can ride in them); the resumable training
state is ``torch.save`` of plain dicts, read back with ``weights_only=True``. Users' own
weight files (``deep.weights``, ``segment.weights``) are read by :func:`read_state_dict`,
which names the config key in every refusal.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from sonomics.io import atomic_path


def cpu_copy(obj):
    """A CPU copy of nested dicts/lists of tensors, safe to write while training goes on."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True).contiguous()
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


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


class WeightFileError(ValueError):
    """A user's weight file is missing or does not hold a state dict."""


def read_state_dict(path: Path, config_key: str) -> dict[str, torch.Tensor]:
    """Tensors of a user's weight file: safetensors, a torch state dict, or a checkpoint
    dict holding one under ``state_dict`` (read with ``weights_only=True``, so a pickled
    file cannot run code). ``config_key`` names the setting in the one-line error."""
    if not path.is_file():
        raise WeightFileError(f"config key '{config_key}': weight file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch/safetensors raise many types for bad files
        why = ("weights-only loading refused it: not a torch file, or a pickle that would need "
               "to run code" if isinstance(exc, pickle.UnpicklingError)
               else f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}")
        raise WeightFileError(f"config key '{config_key}': cannot read {path} as a state dict "
                              f"({why})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightFileError(f"config key '{config_key}': {path} does not hold a state dict")
    return state


def read_state(path: Path) -> dict:
    """A training state written by :func:`write_state`, tensors on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)
