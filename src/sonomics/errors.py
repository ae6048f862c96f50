"""One way every sonomics command reports a problem: one line, exit code 1.

A command body runs under :func:`reporting_errors`: an expected error (bad config, bad
cohort, bad bundle, a file that cannot be read or written) becomes ``error: <what is
wrong>`` on stderr and exit code 1; the traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True)
#: set by the top-level ``--debug`` option
DEBUG = {"on": False}


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` (one line, no traceback) and return the Exit to raise."""
    first = str(message).strip()
    while first.lower().startswith("error:"):  # "Error: error: x" is said once
        first = first[len("error:"):].strip()
    err_console.print(f"[bold red]error:[/bold red] {first}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _expected() -> tuple[type[BaseException], ...]:
    from sonomics.bundle import BundleError
    from sonomics.config import ConfigError
    from sonomics.data.manifest import CohortError
    from sonomics.data.splits import SplitError

    return (ConfigError, CohortError, SplitError, BundleError, ValueError, OSError,
            RuntimeError)


def describe(exc: BaseException) -> str:
    """One line for an error; an OS error says what it could not do and where."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, OSError) and exc.strerror:  # raised with (errno, message)
        return exc.strerror
    return str(exc)


def reporting_errors(func: F) -> F:
    """Run a command body, turning expected errors into one line and exit code 1."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except _expected() as exc:
            if DEBUG["on"]:
                raise
            raise fail(describe(exc)) from None
    return wrapper  # type: ignore[return-value]
