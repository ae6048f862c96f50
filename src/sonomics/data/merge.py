"""One multi-centre manifest from several cohorts' manifests (``sonomics datasets merge``).

External validation needs cohorts from other centres in one study: train on one site,
test on another (``split.external_sites``), harmonise features by site. Each input is a
sonomics manifest (an adapter's output or one written by hand, default column names);
the merged manifest

* tags every row with its cohort's name in ``site`` (an input's own ``site`` column, such
  as BUS-BRA's scanner, is kept as ``source_site``);
* keeps ids unique and stable: every case and patient id becomes ``<site>-<id>``, whatever
  other cohorts are merged (the originals stay in ``source_case_id``/``source_patient_id``);
* rewrites relative image and mask paths so they stay valid from the new folder;
* keeps every column of every input; a column some cohorts lack is empty there and listed
  in :attr:`MergeResult.partial_columns`, so a study can say why a clinical factor is
  missing on one site instead of failing late.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sonomics.data.images import MASK_SEPARATOR
from sonomics.data.manifest import CohortError, is_missing, read_table
from sonomics.io import atomic_write_text, csv_text

__all__ = ["MergeResult", "merge_manifests"]

#: columns holding paths, rewritten relative to the merged manifest's folder
PATH_COLUMNS = ("image", "mask", "mask_reader2")
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]*$")


@dataclass(frozen=True)
class MergeResult:
    """The merged manifest, where it was written, and what was not in every cohort."""

    path: Path
    frame: pd.DataFrame
    #: column -> the sites whose manifest lacks it
    partial_columns: dict[str, list[str]]


def merge_manifests(manifests: list[Path], sites: list[str], out: Path, *,
                    force: bool = False) -> MergeResult:
    """Merge ``manifests`` (site ``sites[i]`` for ``manifests[i]``) into ``out/manifest.csv``."""
    _check_sites(manifests, sites)
    out = Path(out)
    target = out if out.suffix.lower() == ".csv" else out / "manifest.csv"
    if target.exists() and not force:
        raise CohortError(f"{target} exists (it may hold your edits); use --force to "
                          "overwrite it")
    frames = [_one_cohort(Path(m), site, target.parent.resolve())
              for m, site in zip(manifests, sites, strict=True)]
    columns: list[str] = []
    for frame in frames:
        columns += [c for c in frame.columns if c not in columns]
    partial = {col: [site for site, f in zip(sites, frames, strict=True) if col not in f]
               for col in columns}
    partial = {col: lacking for col, lacking in partial.items() if lacking}
    merged = pd.concat(frames, ignore_index=True)[columns].fillna("")
    atomic_write_text(target, csv_text(merged.set_index("case_id")))
    return MergeResult(target, merged, partial)


def _check_sites(manifests: list[Path], sites: list[str]) -> None:
    if len(manifests) < 2:
        raise CohortError("datasets merge: give at least two manifests")
    if len(sites) != len(manifests):
        raise CohortError(f"datasets merge: {len(manifests)} manifests but {len(sites)} "
                          "--site names; give one --site per manifest, in the same order")
    bad = [s for s in sites if not SITE_NAME.match(s)]
    if bad:
        raise CohortError(f"datasets merge: site name(s) {bad} must start with a letter or "
                          "digit and hold only letters, digits, '.' and '_'")
    if len(set(sites)) != len(sites):
        raise CohortError(f"datasets merge: site names must differ (got {sites})")


def _one_cohort(manifest: Path, site: str, new_base: Path) -> pd.DataFrame:
    frame = read_table(manifest)
    for col in ("case_id", "image", "mask", "label"):
        if col not in frame:
            raise CohortError(f"datasets merge: {manifest}, field '{col}': required column "
                              f"missing; the manifest has: {', '.join(frame.columns)}")
    base = manifest.resolve().parent
    frame = frame.copy()
    for col in PATH_COLUMNS:
        if col in frame:
            frame[col] = [_rebase(v, base, new_base) for v in frame[col]]
    if "site" in frame:
        frame = frame.rename(columns={"site": "source_site"})
    original_case = frame["case_id"].astype(str).str.strip()
    original_patient = (frame["patient_id"].astype(str).str.strip()
                        if "patient_id" in frame else original_case)
    original_patient = original_patient.where(~original_patient.map(is_missing),
                                              original_case)
    frame["case_id"] = site + "-" + original_case
    frame["patient_id"] = site + "-" + original_patient
    frame["site"] = site
    frame["source_case_id"] = original_case
    frame["source_patient_id"] = original_patient
    first = ["case_id", "patient_id", "image", "mask", "label", "site"]
    return frame[first + [c for c in frame.columns if c not in first]]


def _rebase(value: object, base: Path, new_base: Path) -> str:
    """A path cell valid from ``new_base`` (absolute paths unchanged; ``a|b`` part by part)."""
    if is_missing(value):
        return ""
    parts = []
    for part in str(value).split(MASK_SEPARATOR):
        p = Path(part.strip()).expanduser()
        if p.is_absolute():
            parts.append(str(p))
        else:
            parts.append(os.path.relpath(os.path.normpath(base / p), new_base))
    return MASK_SEPARATOR.join(parts)
