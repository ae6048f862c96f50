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
