"""What this process may use and has used: CPU cores and peak resident memory."""

from __future__ import annotations

import os
import resource
import sys


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask where the OS has one
    (Linux; a container or ``taskset`` limit counts), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows have no affinity call
        return os.cpu_count() or 1


def peak_rss_mb() -> dict[str, float]:
    """High-water resident memory so far of this process and of its finished children (MB).

    Recorded after each stage, so a stage that raised the peak shows it as a jump.
    """
    scale = 1 / 1024**2 if sys.platform == "darwin" else 1 / 1024  # bytes vs KiB
    return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1),
            "children_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale, 1)}


def die_with_parent() -> None:
    """Make this (worker) process receive SIGKILL when its parent dies (Linux).

    A pool worker whose main process is killed (``kill -9``) would otherwise finish its
    task and linger; with the parent-death signal it goes at once. Elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl: nothing to do
        return
