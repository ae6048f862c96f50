"""Training each CNN in a child process, so the study's process never holds its training
memory.

A CPU training step keeps every activation of the batch for the backward pass (DenseNet121,
batch 32, 128 px: about 2.4 GB) on top of what the study already holds (features, crops,
fitted models: about 1.4 GB in the demo), and the C allocator does not hand all of it back
between the full CNN and the out-of-fold ones; the demo's peak reached 4.2 GB. A fresh
child process (``spawn``) trains with only the crops it is given, writes its checkpoints,
and exits, returning its memory to the system; the study then calls
:func:`~sonomics.deep.train.train_backbone` again, which finds the finished run in the
checkpoint folder and only loads the best weights — the same function, the same result.

Linux only (the child is killed with the study process: ``PR_SET_PDEATHSIG``, so a killed
study never leaves a CNN training behind and writing into the folder a resumed run uses);
elsewhere, and without a checkpoint folder, training runs in-process as before. Costs one
interpreter start per CNN (a few seconds).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sonomics.deep.train import TrainResult, TrainSettings, train_backbone

log = logging.getLogger(__name__)

__all__ = ["train_isolated"]


def train_isolated(name: str, crops: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                   settings: TrainSettings, *, checkpoint_dir: str | Path | None,
                   isolate: bool = True, **kwargs: Any) -> TrainResult:
    """:func:`train_backbone`, its training done in a child process when it can be."""
    if not isolate or checkpoint_dir is None or not sys.platform.startswith("linux"):
        return train_backbone(name, crops, labels, groups, settings,
                              checkpoint_dir=checkpoint_dir, **kwargs)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn,
                             initializer=_die_with_parent) as pool:
        resumed_from, epoch_seconds = pool.submit(
            _train_in_child, name, crops, labels, groups, settings, str(checkpoint_dir),
            kwargs).result()  # the child's error, re-raised
    result = train_backbone(name, crops, labels, groups, settings,
                            checkpoint_dir=checkpoint_dir, **kwargs)
    if result.epoch_seconds:  # the child's finished run was not recognised: trained twice
        log.warning("%s: the training child's checkpoint in %s was not reused; trained "
                    "again in the study process", name, checkpoint_dir)
        return result
    # the summary reports the child's training (where it resumed, its epoch times), not
    # this process's reload of the finished run
    return dataclasses.replace(result, resumed_from=resumed_from,
                               epoch_seconds=epoch_seconds)


def _train_in_child(name: str, crops: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                    settings: TrainSettings, checkpoint_dir: str,
                    kwargs: dict[str, Any]) -> tuple[int, list[float]]:
    """Train and write the checkpoints; only where it resumed and the epoch times come
    back (the folder holds the rest)."""
    result = train_backbone(name, crops, labels, groups, settings,
                            checkpoint_dir=checkpoint_dir, **kwargs)
    return result.resumed_from, result.epoch_seconds


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this child when the process that started it dies."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
