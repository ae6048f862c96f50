"""One progress-bar style for every long step (validation, extraction, CNN training)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(*, enabled: bool = True, console: Console | None = None,
                 transient: bool = False, rate: bool = False) -> Progress:
    """A rich progress bar: description, bar, done/total, [rate], elapsed, ETA.

    ``rate=True`` adds a column showing the task field ``rate`` (callers set it, e.g.
    "2.10 cases/s"); ``enabled=False`` gives a silent bar (non-terminal output, tests).
    """
    columns: list[ProgressColumn] = [TextColumn("[bold]{task.description}"), BarColumn(),
                                     MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=transient, disable=not enabled)
