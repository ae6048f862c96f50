"""Small file helpers shared by every stage: atomic writes and table output.

A run can be killed at any moment (SIGKILL included), so nothing is ever
written in place: data goes to a temporary file in the same folder and is
renamed over the target, which POSIX makes atomic. A reader therefore sees
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd


def _umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                   dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _naming(exc, target) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp_path, target)
    except OSError as exc:  # a full disk, a read-only folder: say which file
        raise _naming(exc, target) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _naming(exc: OSError, target: Path) -> OSError:
    """The same error, naming the file sonomics was writing (not its temporary name)."""
    reason = exc.strerror or str(exc)
    return type(exc)(exc.errno, f"cannot write {target}: {reason}")


def remove_temporaries(root: str | Path) -> int:
    """Delete the temporary files :func:`atomic_path` leaves behind when a process is killed.

    Call it only where no other process writes into ``root`` at the same time (one run per
    run directory). Returns how many were removed.
    """
    removed = 0
    for path in Path(root).rglob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | Path, text: str) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"))


def write_parquet(df: pd.DataFrame, target: str | Path) -> Path:
    """Write a DataFrame as Parquet atomically."""
    with atomic_path(target) as tmp:
        df.to_parquet(tmp, index=True)
    return Path(target)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def to_markdown(df: pd.DataFrame, index: bool = False, floatfmt: str = ".3f") -> str:
    """A GitHub-flavoured Markdown table (no optional `tabulate` dependency)."""
    frame = df.reset_index() if index else df

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else format(v, floatfmt)
        return "" if v is None else str(v).replace("|", "\\|")

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, *, index: bool = False,
                title: str | None = None, note: str | None = None) -> Path:
    """Write ``name.csv`` and ``name.md`` into ``out_dir`` (atomically); return the CSV path."""
    out_dir = Path(out_dir)
    csv_path = out_dir / f"{name}.csv"
    atomic_write_text(csv_path, csv_text(df, index=index))
    md = ""
    if title:
        md += f"## {title}\n\n"
    md += to_markdown(df, index=index)
    if note:
        md += f"\n{note}\n"
    atomic_write_text(out_dir / f"{name}.md", md)
    return csv_path


def save_figure(fig, target: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically, in the format its suffix names (PNG by default)."""
    target = Path(target)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=target.suffix.lstrip(".") or "png")
    return target


def _stable_default(obj: object) -> object:
    """JSON stand-ins for what :func:`stable_hash` accepts besides plain JSON values."""
    if isinstance(obj, np.ndarray) and not obj.dtype.hasobject:  # object arrays hold pointers
        arr = np.ascontiguousarray(obj)
        return {"dtype": arr.dtype.str, "shape": list(arr.shape),
                "sha256": hashlib.sha256(arr).hexdigest()}  # hashes the buffer, no copy
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(obj).hexdigest()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"stable_hash: cannot hash a {type(obj).__name__}")


def stable_hash(obj: object) -> str:
    """SHA-256 (hex) of ``obj`` as canonical JSON: sorted keys, compact separators.

    The one fingerprint scheme for caches and checkpoints: equal content gives the same
    key in every process and Python version. Besides JSON values, ``obj`` may hold numpy
    arrays (hashed with their dtype and shape), bytes and paths (as text).
    """
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_stable_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: first characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_number(text: str) -> bool:
    """True when ``text`` parses as a float (``"-0.5"``, ``"1e3"``, ``"nan"``)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def neutralise_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula, prefixed with ``'`` (OWASP's rule);
    numbers (``-0.5``) and everything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not is_number(value):
        return "'" + value
    return value


def restore_cell(value: object) -> object:
    """The inverse of :func:`neutralise_cell`, for sonomics reading its own CSV back."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(
            FORMULA_START) and not is_number(value[1:]):
        return value[1:]
    return value


def csv_text(frame: pd.DataFrame, *, index: bool = True) -> str:
    """CSV of ``frame`` safe to open in a spreadsheet: no text cell (index included) can
    start a formula. Parquet/JSON copies keep the original values."""
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(neutralise_cell)
    if index and (safe.index.dtype == object or pd.api.types.is_string_dtype(safe.index)):
        safe.index = safe.index.map(neutralise_cell)
    safe.columns = [neutralise_cell(c) for c in safe.columns]
    return safe.to_csv(index=index)


def read_csv_restored(path: str | Path, **kwargs: object) -> pd.DataFrame:
    """Read a CSV sonomics wrote with :func:`csv_text`, undoing the formula guard."""
    frame = pd.read_csv(path, **kwargs)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(restore_cell)
    if frame.index.dtype == object:
        frame.index = frame.index.map(restore_cell)
    return frame


def case_file_stem(case_id: str) -> str:
    """A file name for a case that no other case id maps to: a readable slug plus a short
    hash of the exact id (``a/b`` and ``a_b`` share the slug, not the hash)."""
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(case_id))[:60]
    return f"{slug}-{hashlib.sha256(str(case_id).encode()).hexdigest()[:8]}"
