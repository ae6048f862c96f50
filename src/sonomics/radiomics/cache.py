"""Content-addressed cache of per-case radiomic features (one small Parquet file per case).

The key is a SHA-256 of everything that changes a feature value: the image file's
bytes, the mask file's bytes, the resolved pyradiomics parameters, the extractor
version (pyradiomics + sonomics revision), and the task's spacing, mask label,
perturbation recipe and spacing policy. Renaming or moving a file therefore
keeps its cache entry; editing a pixel or a setting invalidates it.

Each entry is written through :func:`sonomics.io.atomic_path` (temporary file +
atomic rename), so a process killed at any moment (SIGKILL included) leaves
either a complete entry or none: the cache is never corrupt, and a rerun
computes only what is missing. A file that cannot be read, or whose content does not
match the checksum stored with it (a value edited, rows cut), is treated as a miss:
recomputed, and counted in ``FeatureCache.rejected``.

Layout: ``ROOT/<key[:2]>/<key>.parquet`` with columns ``name`` (str),
``value`` (float64, features) and ``text`` (str, diagnostics), one row per name.
The long layout is ~20x faster to read back than a 1,500-column single row.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sonomics.data.images import MASK_SEPARATOR
from sonomics.io import atomic_path, sha256_file, stable_hash
from sonomics.radiomics.extract import CaseResult, ExtractionTask

CHECKSUM_KEY = b"sonomics_checksum"


def _checksum(names: list[str], values: np.ndarray, texts: list[str | None]) -> str:
    """SHA-256 of an entry's names, values (exact float64 bytes) and diagnostics."""
    return stable_hash({"names": names, "values": np.asarray(values, dtype=np.float64),
                        "texts": texts})


class FeatureCache:
    """Per-case feature cache under ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.rejected = 0  # entries whose content did not match their checksum

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.parquet"

    def get(self, key: str) -> CaseResult | None:
        """The cached result, or None when absent or unreadable."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            table = pq.read_table(path, columns=["name", "value", "text"])
            names = table.column("name").to_pylist()
            values = table.column("value").to_numpy(zero_copy_only=False)
            texts = table.column("text").to_pylist()
            stored = (table.schema.metadata or {}).get(CHECKSUM_KEY, b"").decode()
        except Exception:  # noqa: BLE001 - any unreadable file is a miss, recomputed
            return None
        if stored != _checksum(names, values, texts):  # edited, truncated or foreign entry
            self.rejected += 1
            return None
        features, diagnostics = {}, {}
        for name, value, text in zip(names, values.tolist(), texts, strict=True):
            if text is None:
                features[name] = value
            else:
                diagnostics[name] = text
        return CaseResult(features, diagnostics)

    def put(self, key: str, result: CaseResult) -> Path:
        """Store a result atomically; return the entry's path."""
        n_feat, n_diag = len(result.features), len(result.diagnostics)
        table = pa.table({
            "name": pa.array(list(result.features) + list(result.diagnostics), pa.string()),
            "value": pa.array(np.concatenate([
                np.fromiter(result.features.values(), float, n_feat), np.full(n_diag, np.nan)])),
            "text": pa.array([None] * n_feat + list(result.diagnostics.values()), pa.string()),
        })
        names, values = table.column("name").to_pylist(), table.column("value").to_numpy()
        checksum = _checksum(names, values, table.column("text").to_pylist())
        table = table.replace_schema_metadata({CHECKSUM_KEY: checksum})
        path = self.path_for(key)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    def __contains__(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.parquet")) if self.root.exists() else 0

    def remove_stale_temporaries(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files left by killed writers (older than ``older_than_s``)."""
        if not self.root.exists():
            return 0
        now, removed = time.time(), 0
        for tmp in self.root.glob("*/.*.tmp"):
            try:
                if now - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def task_key(task: ExtractionTask, params_hash: str, version: str, *,
             sigma_in_pixels: bool, file_hashes: dict[Path, str] | None = None) -> str:
    """The content address of a task's result (reads the image and mask bytes).

    ``file_hashes`` memoises file digests within one run (a mask shared by several
    pseudo-readers is hashed once).
    """
    memo = file_hashes if file_hashes is not None else {}

    def digest(path: Path) -> str:
        # several mask files joined by "|" form one ROI: hash each part
        parts = [Path(p) for p in str(path).split(MASK_SEPARATOR)]
        for part in parts:
            if part not in memo:
                memo[part] = sha256_file(part)
        return "+".join(memo[p] for p in parts)

    payload: dict[str, Any] = {
        "image": digest(task.image),
        "mask": digest(task.mask),
        "params": params_hash,
        "version": version,
        "spacing": list(task.spacing) if task.spacing is not None else None,
        "mask_label": task.mask_label,
        "perturbation": task.perturbation,
        "sigma_in_pixels": sigma_in_pixels,
        "min_roi_pixels": task.min_roi_pixels,
    }
    return stable_hash(payload)
