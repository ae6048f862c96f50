"""The package version and a digest of the code itself (their own module, so nothing needs
to import the package root).

The version alone does not change while the code is developed, so a study's stages also
record :func:`code_digest`: pulling new code and rerunning an old run directory recomputes
what the new code would compute differently, instead of keeping results the old code made.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"

#: files whose content decides what a stage computes (code, parameter files, templates,
#: checklist data); caches and byte-code are not code
CODE_SUFFIXES = (".py", ".yaml", ".j2", ".csv", ".html")


@functools.cache
def code_digest() -> str:
    """SHA-256 (16 hex digits) of every code and resource file of the installed package."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
