"""What a stage is: a function plus the declarations the runner needs to resume it safely."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class StageSkipped(Exception):
    """A stage cannot produce its outputs for this input; the message says why.

    The runner records the reason (readers such as a report show it) and goes on with the
    next stage; stages that need this one see no outputs from it.
    """


def _nothing(_: Any) -> None:
    return None


def _no_files(_: Any) -> list[Path]:
    return []


@dataclass(frozen=True)
class Stage:
    """One resumable step.

    Attributes:
        name: unique name; also the name of its marker file.
        run: the work, called with the run's context object.
        description: one line for the console.
        needs: names of the stages whose outputs it reads (they run first).
        settings: what it depends on besides files (JSON-able), from the context: the
            part of the configuration it reads, the cases it works on.
        reads: input files whose *content* it depends on (images, masks, manifest), from
            the context; hashed into the fingerprint so an edited file reruns the stage.
        writes: run-directory-relative glob patterns of every output it owns; removed
            before the stage reruns, and required to exist for the stage to be skipped.
            Caches that key themselves on content (resumable checkpoints) are not outputs.
        always: rerun on every run (cheap stages that also load state for later ones).
        outline: what the stage contributes to a report (opaque to the engine).
    """

    name: str
    run: Callable[[Any], None]
    description: str
    needs: tuple[str, ...] = ()
    settings: Callable[[Any], object] = _nothing
    reads: Callable[[Any], Iterable[Path]] = _no_files
    writes: tuple[str, ...] = ()
    always: bool = False
    outline: Any = None
