"""One progress-bar style for every long step (validation, extraction, CNN training)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


@contextmanager
def progress_callback(description: str, total: int, *, done: int = 0,
                      console: Console | None = None, enabled: bool | None = None,
                      transient: bool = False, rate_unit: str | None = None,
                      ) -> Iterator[Callable[..., None]]:
    """A :func:`progress_bar` with one task, as a context manager yielding its callback.

    The callback is ``advance(done=None, total=None)``: with no argument it moves the bar
    one step; ``advance(done, total)`` sets it to ``done`` of ``total`` (the
    ``progress(done, total)`` hook of :func:`sonomics.data.validation.validate_cohort`).
    ``enabled=None`` shows the bar only when ``console`` (default: rich's) is a terminal;
    a disabled bar draws nothing and its callback does nothing. ``rate_unit`` adds a
    rate column (e.g. "2.10 cases/s"); ``done`` is where the bar starts (cached work).
    """
    if enabled is None:
        from rich import get_console

        enabled = (console or get_console()).is_terminal
    if not enabled:
        yield lambda done=None, total=None: None
        return
    bar = progress_bar(console=console, transient=transient, rate=rate_unit is not None)
    fields = {"rate": ""} if rate_unit is not None else {}
    task = bar.add_task(description, total=total, completed=done, **fields)

    def advance(done: int | None = None, total: int | None = None) -> None:
        if rate_unit is not None:
            speed = bar.tasks[0].speed
            fields["rate"] = f"{speed:.2f} {rate_unit}/s" if speed else ""
        if done is None:
            bar.update(task, advance=1, total=total, **fields)
        else:
            bar.update(task, completed=done, total=total, **fields)

    with bar:
        yield advance
