"""The Python API: a study you can run, resume and read from a notebook.

>>> study = Study.from_config("study/config.yaml")          # doctest: +SKIP
>>> study.run()                                            # doctest: +SKIP
>>> study.table(7)                                         # doctest: +SKIP
>>> study.predictions("nomogram")                          # doctest: +SKIP

``run`` is the very code ``sonomics run`` executes; ``run(["radiomics"])`` runs one stage
and what it needs (that is ``sonomics extract``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from rich.console import Console

from sonomics._version import __version__
from sonomics.config import StudyConfig, apply_profile
from sonomics.io import atomic_write_text, remove_temporaries
from sonomics.pipeline import Runner, StageRecord
from sonomics.rundir import Model, RunDir
from sonomics.study.context import StudyContext
from sonomics.study.stages import STAGES


class RunLockedError(RuntimeError):
    """Another process is running a study in this run directory."""


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the run directory's lock (an OS file lock: released when the process dies)."""
    from filelock import FileLock, Timeout

    lock, owner = FileLock(out / ".sonomics.lock"), out / ".sonomics.lock.pid"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        pid = owner.read_text().strip() if owner.exists() else "unknown"
        raise RunLockedError(f"{out} is in use by another sonomics run (PID {pid}); wait for "
                             "it to finish or give this run another --out") from None
    try:
        owner.write_text(str(os.getpid()))
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


class Study:
    """A study: its config, its run directory, and the stages that fill it."""

    def __init__(self, config: StudyConfig, out: str | Path | None = None,
                 console: Console | None = None) -> None:
        self.config = config
        self.out = Path(out or config.out)
        self.dir = RunDir(self.out)
        self.console = console or Console(stderr=True)
        self.records: list[StageRecord] = []
        self.context = StudyContext(config, self.dir, self.console,
                                    stage_order=[s.name for s in STAGES])

    @classmethod
    def from_config(cls, path: str | Path, *, out: str | Path | None = None,
                    profile: str | None = None, console: Console | None = None) -> Study:
        """A study from a YAML config (``profile`` = ``quick`` or ``paper`` overrides it)."""
        cfg = StudyConfig.load(path)
        if profile is not None:
            cfg = apply_profile(cfg, profile)
        if out is not None:
            cfg.out = Path(out).resolve()
        return cls(cfg, console=console)

    def run(self, stages: Iterable[str] | None = None) -> Path:
        """Run every stage (or ``stages`` and what they need), resuming what is done.

        One run per run directory at a time: a second one refuses at once (RunLockedError,
        naming the holder's PID) instead of mixing its results with the first one's.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        with run_lock(self.out):
            stale = remove_temporaries(self.out)  # half-written files of a killed run
            if stale:
                self.console.print(f"removed {stale} half-written file(s) of an interrupted "
                                   "run")
            atomic_write_text(self.dir.config_yaml,
                              f"# sonomics {__version__}\n" + self.config.to_yaml())
            runner = Runner(STAGES, self.out, self.console)
            self.records = runner.run(self.context, stages)
        return self.out

    @property
    def ran(self) -> list[str]:
        """Stages the last ``run`` computed (not skipped as unchanged)."""
        return [r.name for r in self.records if r.status != "skipped"]

    def table(self, which: int | str) -> pd.DataFrame:
        """A table of the run: a number (``7`` = Table 7) or a file name in ``tables/``."""
        name = str(which)
        if isinstance(which, int) or name.isdigit():
            found = sorted(self.dir.tables.glob(f"table{name}_*.csv"))
            if not found:
                raise KeyError(f"the run has no Table {name} in {self.dir.tables}")
            name = found[0].stem
        frame = self.dir.table(name)
        if frame is None:
            raise KeyError(f"the run has no table {name!r} in {self.dir.tables}")
        return frame

    def predictions(self, model: Model | str) -> pd.DataFrame:
        """A model's probabilities per case (index case_id; split, label, prob, oof)."""
        frame = self.dir.predictions(model)
        if frame is None:
            reason = self.dir.absent_reason(Model(model).stage) or "it has not run"
            raise KeyError(f"the run has no predictions of {model!r}: {reason}")
        return frame
