"""Run declared stages in order, resuming exactly what is unchanged and complete.

A stage's fingerprint hashes its settings, the fingerprints of the stages it needs, the
*content* of the files it reads, the software version and a digest of the code itself (so
new code reruns what it might compute differently; content-keyed caches, such as the
extracted features and the CNN checkpoints, keep that cheap). A stage is skipped only when
its marker holds the same fingerprint, every output it recorded still exists and no stage
it needs ran again in this run; otherwise every output it declared is removed first (so
nothing stale survives, also when the stage now produces less) and it runs again. Markers
are written after the stage has finished, atomically: a killed run resumes at the stage it
was in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from sonomics._version import __version__, code_digest
from sonomics.io import atomic_write_text, sha256_file, stable_hash
from sonomics.pipeline.stage import Stage, StageSkipped
from sonomics.system import peak_rss_mb

MARKERS = Path("cache") / "stages"


def recorded_seconds(root: str | Path, name: str) -> float | None:
    """Seconds stage ``name`` took when it last ran in run directory ``root`` (its
    marker; a stage skipped as unchanged keeps the time it took), None without one."""
    try:
        return float(json.loads((Path(root) / MARKERS / f"{name}.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class StageRecord:
    """What happened to one stage in one run."""

    name: str
    status: str  # "ran" | "absent" (ran, produced nothing, with a reason) | "skipped"
    seconds: float = 0.0


class Runner:
    """Orders, fingerprints and runs stages inside one run directory."""

    def __init__(self, stages: Sequence[Stage], root: str | Path,
                 console: Console | None = None) -> None:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        seen: set[str] = set()
        for stage in stages:
            unknown = [n for n in stage.needs if n not in seen]
            if unknown:
                raise ValueError(f"stage {stage.name!r} needs {unknown}, which must come "
                                 "before it")
            seen.add(stage.name)
        self.stages = list(stages)
        self.root = Path(root)
        self.console = console or Console(stderr=True)
        self._digests: dict[Path, str] = {}

    # ------------------------------------------------------------------ selection
    def closure(self, targets: Iterable[str]) -> list[Stage]:
        """The stages ``targets`` need (transitively), themselves included, in run order."""
        by_name = {s.name: s for s in self.stages}
        wanted: set[str] = set()
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name not in by_name:
                raise ValueError(f"unknown stage {name!r}; stages: {list(by_name)}")
            if name not in wanted:
                wanted.add(name)
                todo.extend(by_name[name].needs)
        return [s for s in self.stages if s.name in wanted]

    # ------------------------------------------------------------------ running
    def run(self, context: Any, targets: Iterable[str] | None = None) -> list[StageRecord]:
        """Run the stages (or only ``targets`` and what they need); return what happened."""
        stages = self.closure(targets) if targets is not None else self.stages
        prints: dict[str, str] = {}
        rebuilt: set[str] = set()  # stages that ran again: what needs them runs again too
        records = []
        for i, stage in enumerate(stages, 1):
            label = f"[{i}/{len(stages)}] {stage.description}"
            fingerprint = self.fingerprint(stage, context, prints)
            prints[stage.name] = fingerprint
            upstream_rebuilt = any(n in rebuilt for n in stage.needs)
            if not stage.always and not upstream_rebuilt and self.is_current(stage.name,
                                                                             fingerprint):
                self.console.print(f"{label} — unchanged, skipped")
                records.append(StageRecord(stage.name, "skipped"))
                continue
            self.console.print(f"[bold]{label}[/bold]")
            records.append(self._run_one(stage, context, fingerprint))
            if not stage.always:
                rebuilt.add(stage.name)
        return records

    def _run_one(self, stage: Stage, context: Any, fingerprint: str) -> StageRecord:
        self.marker(stage.name).unlink(missing_ok=True)
        self.absent_path(stage.name).unlink(missing_ok=True)
        self.remove_outputs(stage)
        started = time.perf_counter()
        status = "ran"
        try:
            stage.run(context)
        except StageSkipped as exc:
            status = "absent"
            self.remove_outputs(stage)  # a stage that produces nothing leaves nothing
            atomic_write_text(self.absent_path(stage.name), str(exc))
            self.console.print(f"  [yellow]skipped:[/yellow] {exc}")
        seconds = time.perf_counter() - started
        outputs = sorted(str(p.relative_to(self.root)) for p in self.outputs(stage))
        atomic_write_text(self.marker(stage.name), json.dumps(
            {"fingerprint": fingerprint, "version": __version__, "code": code_digest(),
             "status": status,
             "seconds": round(seconds, 2), "outputs": outputs, **peak_rss_mb()}, indent=1))
        return StageRecord(stage.name, status, seconds)

    # ------------------------------------------------------------------ state
    def marker(self, name: str) -> Path:
        return self.root / MARKERS / f"{name}.json"

    def absent_path(self, name: str) -> Path:
        """Where the reason a stage produced nothing is kept (see :class:`StageSkipped`)."""
        return self.root / MARKERS / f"{name}.absent"

    def outputs(self, stage: Stage) -> list[Path]:
        """The files that exist under the stage's declared output patterns."""
        found: set[Path] = set()
        for pattern in stage.writes:
            found.update(p for p in self.root.glob(pattern) if p.is_file())
        return sorted(found)

    def remove_outputs(self, stage: Stage) -> None:
        for path in self.outputs(stage):
            path.unlink(missing_ok=True)

    def is_current(self, name: str, fingerprint: str) -> bool:
        """The marker holds ``fingerprint`` and every output it recorded exists."""
        marker = self.marker(name)
        if not marker.exists():
            return False
        try:
            record = json.loads(marker.read_text())
        except json.JSONDecodeError:
            return False
        if record.get("fingerprint") != fingerprint:
            return False
        if record.get("status") == "absent" and not self.absent_path(name).exists():
            return False
        return all((self.root / rel).is_file() for rel in record.get("outputs", []))

    # ------------------------------------------------------------------ fingerprints
    def fingerprint(self, stage: Stage, context: Any, upstream: dict[str, str]) -> str:
        """Hash of settings, upstream fingerprints, input-file content, version and code."""
        # content only, in the stage's order: a cohort moved elsewhere is still the same
        files = [self.digest(Path(p)) for p in stage.reads(context)]
        return stable_hash({"settings": stage.settings(context),
                            "upstream": [upstream.get(n) for n in stage.needs],
                            "files": files, "version": __version__,
                            "code": code_digest()})

    def digest(self, path: Path) -> str:
        """SHA-256 of a file's bytes (each file read once per runner), or why there is none."""
        if path not in self._digests:
            try:
                self._digests[path] = sha256_file(path)
            except OSError as exc:
                self._digests[path] = f"unreadable: {type(exc).__name__}"
        return self._digests[path]
