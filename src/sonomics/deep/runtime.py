"""Where and how the CNNs run: device, threads, loader workers, seeds, mixed precision.

CUDA (bf16/fp16 autocast), Apple MPS, else CPU with all the cores this process may use.
On CPU the loader runs in the main process (crops are in memory and augmenting one costs
far less than the network step); on CUDA worker processes keep the GPU fed.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from sonomics.system import available_cores


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA, else Apple MPS, else CPU; an explicit name must be available."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config key 'deep.device': 'cuda' requested but no CUDA device")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("config key 'deep.device': 'mps' requested but MPS is unavailable")
    return torch.device(name)


def configure_threads(device: torch.device) -> int:
    """Use every allowed core for CPU math unless OMP_NUM_THREADS says otherwise."""
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(available_cores())
    return torch.get_num_threads()


def loader_workers(device: torch.device, requested: int | None = None) -> int:
    """DataLoader worker processes: 0 on CPU (the math uses the cores), several on GPU."""
    if requested is not None:
        return requested
    if device.type == "cpu":
        return 0
    return max(1, min(8, available_cores() - 1))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; make cuDNN deterministic."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - libraries that draw from the global RNG
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype on CUDA (bf16 where supported), else None (full precision)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def release_memory() -> None:
    """Hand freed memory back to the operating system between CNN trainings.

    CPU training frees its activations each step, but glibc keeps freed heap pages for
    reuse, so after several networks (the full CNN, then one per out-of-fold split) a
    process holds far more than it uses: in the demo the peak crept up by about 0.15 GB per
    CNN. Collecting cycles and ``malloc_trim(0)`` return those pages (GPU memory goes back
    to the driver's cache with ``torch.cuda.empty_cache``). No effect where glibc is absent.
    """
    import contextlib
    import ctypes
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    with contextlib.suppress(OSError, AttributeError):  # not glibc (macOS, musl): no trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
