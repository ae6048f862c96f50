"""The cohort manifest: one row per image, read from CSV or XLSX.

A manifest names, per case (image), its patient, the image and mask files, an
optional second-reader mask, the label, an optional fixed split and the
clinical columns declared in the config. Column names are configurable
(``data:`` section). Relative paths resolve against the manifest's folder.

Loading never stops at the first problem: every problem is collected as a
:class:`Problem` naming the case and the field. Cohort-level errors (a required
column missing, one class only) make the cohort unusable; case-level errors
exclude that case only, so one bad case never kills a batch of good ones.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sonomics.config import DataConfig, StudyConfig
from sonomics.data.images import MASK_SEPARATOR

#: cell values read as "missing" in clinical columns (compared trimmed, case-insensitive)
MISSING_MARKERS = {"", "na", "n/a", "nan", "none", "null", "not available", "missing", "?"}

COHORT = "(cohort)"  # case id used for problems that concern the whole cohort

#: label text -> 0/1 understood without a config (``data.label_map``'s default)
BINARY_LABELS: dict[str, int] = {"benign": 0, "malignant": 1, "0": 0, "1": 1}


class CohortError(ValueError):
    """The cohort cannot be used at all (the message lists every cohort-level error)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a cohort: which case, which field, how bad, what."""

    case_id: str
    field: str
    severity: Literal["error", "warning"]
    message: str

    def line(self) -> str:
        return f"{self.severity}: case {self.case_id}, field '{self.field}': {self.message}"


@dataclass
class Cohort:
    """A loaded cohort.

    ``table`` is indexed by ``case_id`` and has the columns ``patient_id, image,
    mask, mask_reader2, label (0/1), split, subtype, site, mask_source, spacing_row,
    spacing_col``
    followed by the clinical columns (continuous as float, categorical as
    string, missing as NaN). Paths are absolute strings (``None`` when absent).
    """

    table: pd.DataFrame
    config: DataConfig
    problems: list[Problem] = field(default_factory=list)
    source: Path | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def clinical_columns(self) -> list[str]:
        return [*self.config.continuous, *self.config.categorical]

    @property
    def has_second_reader(self) -> bool:
        return bool(self.table["mask_reader2"].notna().any())

    def excluded_cases(self) -> list[str]:
        """Case ids with at least one case-level error."""
        return sorted({p.case_id for p in self.errors if p.case_id != COHORT})

    def usable(self) -> pd.DataFrame:
        """The rows without case-level errors."""
        bad = set(self.excluded_cases())
        return self.table.loc[[c for c in self.table.index if c not in bad]]

    def problems_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(p.case_id, p.field, p.severity, p.message) for p in self.problems],
            columns=["case_id", "field", "severity", "message"])


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or XLSX manifest with every cell as text (no type guessing)."""
    path = Path(path)
    if not path.is_file():
        raise CohortError(f"manifest not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        df = pd.read_excel(path, dtype=str, keep_default_na=False)
    elif suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","
        df = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8-sig")
    else:
        raise CohortError(f"manifest must be .csv or .xlsx, got '{suffix}': {path}")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def normalise_label(value: object, label_map: dict[str, int]) -> int | None:
    """Map a label cell to 0/1 (trimmed, case-insensitive); ``None`` when unmappable."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return label_map.get(text)


def parse_spacing(value: object) -> float | None:
    """A pixel-spacing cell in mm: ``None`` when missing, else a positive finite float.

    Raises ``ValueError`` (message naming the value) for anything else.
    """
    if is_missing(value):
        return None
    try:
        spacing = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        spacing = math.nan
    if not np.isfinite(spacing) or spacing <= 0:
        raise ValueError(f"pixel spacing {value!r} is not a positive number (mm)")
    return spacing


def case_spacing(row: pd.Series | dict) -> tuple[float, float] | None:
    """A cohort-table row's pixel spacing ``(row, column)`` in mm, or ``None`` when unknown.

    Reads the ``spacing_row``/``spacing_col`` columns :func:`load_cohort` writes (and
    :func:`~sonomics.data.validation.validate_cohort` fills from headers); a missing,
    non-numeric or NaN value on either axis means unknown (downstream: pixel units).
    """
    r, c = row.get("spacing_row"), row.get("spacing_col")
    if r is None or c is None:
        return None
    try:
        r, c = float(r), float(c)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(r) or math.isnan(c) else (r, c)


def is_missing(value: object) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return str(value).strip().lower() in MISSING_MARKERS


def load_cohort(cfg: StudyConfig | DataConfig, manifest: str | Path | None = None, *,
                require_label: bool = True) -> Cohort:
    """Read and check the manifest's table (not the image files: see ``validate_cohort``).

    Raises :class:`CohortError` only when the manifest cannot be read at all; every
    other problem is recorded in ``Cohort.problems``. ``require_label=False`` reads
    a manifest of new patients to score (``sonomics predict``): labels are optional
    and the cohort-level checks that only matter for fitting (one class, a
    categorical variable with one level) are not made.
    """
    dcfg = cfg.data if isinstance(cfg, StudyConfig) else cfg
    path = Path(manifest) if manifest is not None else dcfg.manifest
    if path is None:
        raise CohortError("no manifest given: set 'data.manifest' in the config "
                          "(or write one with `sonomics datasets convert`)")
    raw = read_table(path)
    return build_cohort(raw, dcfg, base_dir=Path(path).resolve().parent, source=Path(path),
                        require_label=require_label)


def build_cohort(raw: pd.DataFrame, dcfg: DataConfig, base_dir: Path,
                 source: Path | None = None, require_label: bool = True) -> Cohort:
    """Turn a raw text table into a :class:`Cohort`, collecting every problem."""
    problems: list[Problem] = []
    required = {"case id": dcfg.case_id, "image": dcfg.image, "mask": dcfg.mask}
    if require_label:
        required["label"] = dcfg.label
    elif dcfg.label not in raw.columns:
        raw = raw.assign(**{dcfg.label: ""})
    for what, col in required.items():
        if col not in raw.columns:
            problems.append(Problem(COHORT, col, "error",
                                    f"required column missing ({what}); the manifest has: "
                                    f"{', '.join(raw.columns)}"))
    for col in [*dcfg.continuous, *dcfg.categorical]:
        if col not in raw.columns:
            problems.append(Problem(COHORT, col, "error",
                                    "clinical column declared in the config is missing"))
    if any(p.severity == "error" for p in problems):
        return Cohort(_empty_table(dcfg), dcfg, problems, source)

    case_ids = raw[dcfg.case_id].astype(str).str.strip()
    table = pd.DataFrame(index=pd.Index(case_ids, name="case_id"))
    for cid in case_ids[case_ids.duplicated(keep="first")].unique():
        problems.append(Problem(cid, dcfg.case_id, "error",
                                f"duplicate case id ({int((case_ids == cid).sum())} rows)"))
    folded = case_ids.str.casefold()
    for cid in case_ids[folded.duplicated(keep=False) & ~case_ids.duplicated(keep=False)]:
        problems.append(Problem(cid, dcfg.case_id, "warning",
                                "case id differs from another only by upper/lower case; kept "
                                "as a separate case (check it is not the same image twice)"))
    for i, cid in enumerate(case_ids):
        if cid == "":
            problems.append(Problem(f"row {i + 2}", dcfg.case_id, "error", "empty case id"))

    def column(name: str | None) -> pd.Series | None:
        """An optional column aligned on case ids, or None when the manifest lacks it."""
        if name and name in raw.columns:
            return pd.Series(raw[name].to_numpy(), index=table.index)
        return None

    patient = column(dcfg.patient_id)
    table["patient_id"] = [
        cid if patient is None or is_missing(p) else str(p).strip()
        for cid, p in zip(table.index, patient if patient is not None else table.index,
                          strict=True)]
    table["image"] = [_resolve(v, base_dir) for v in raw[dcfg.image]]
    table["mask"] = [_resolve(v, base_dir) for v in raw[dcfg.mask]]
    reader2 = column(dcfg.mask_reader2)
    table["mask_reader2"] = ([None] * len(table) if reader2 is None
                             else [_resolve(v, base_dir) for v in reader2])

    labels = []
    for cid, value in zip(table.index, raw[dcfg.label], strict=True):
        mapped = normalise_label(value, dcfg.label_map)
        if mapped is None and (require_label or not is_missing(value)):
            problems.append(Problem(cid, dcfg.label, "error",
                                    f"label {value!r} is not one of "
                                    f"{sorted(dcfg.label_map)} (set data.label_map)"))
        labels.append(mapped)
    table["label"] = pd.array(labels, dtype="Int64")

    split = column(dcfg.split)
    table["split"] = None
    if split is not None:
        values = []
        for cid, v in zip(table.index, split, strict=True):
            text = "" if is_missing(v) else str(v).strip().lower()
            text = {"training": "train", "testing": "test", "validation": "test"}.get(text, text)
            if text not in ("", "train", "test", "external"):
                problems.append(Problem(cid, dcfg.split, "error",
                                        f"split {v!r} must be train, test or external"))
            values.append(text or None)
        table["split"] = values

    subtype = column(dcfg.subtype)
    table["subtype"] = (None if subtype is None
                        else [None if is_missing(v) else str(v).strip() for v in subtype])
    site = column(dcfg.site)
    table["site"] = (None if site is None
                     else [None if is_missing(v) else str(v).strip() for v in site])
    origin = column(dcfg.mask_source)
    table["mask_source"] = (None if origin is None
                            else [None if is_missing(v) else str(v).strip() for v in origin])

    spacing = column(dcfg.spacing)
    table["spacing_row"] = np.nan
    table["spacing_col"] = np.nan
    if spacing is not None:
        for cid, v in zip(table.index, spacing, strict=True):
            try:
                s = parse_spacing(v)
            except ValueError as exc:
                problems.append(Problem(cid, dcfg.spacing, "error", str(exc)))
                continue
            if s is not None:
                table.loc[cid, ["spacing_row", "spacing_col"]] = s

    for col in dcfg.continuous:
        values = []
        for cid, v in zip(table.index, raw[col], strict=True):
            if is_missing(v):
                problems.append(Problem(cid, col, "warning",
                                        "missing value in continuous clinical variable "
                                        "(imputed with the training median)"))
                values.append(np.nan)
                continue
            try:
                num = float(str(v).strip())
            except ValueError:
                num = np.nan
            if not np.isfinite(num):
                problems.append(Problem(cid, col, "error",
                                        f"non-numeric value {v!r} in continuous clinical "
                                        "variable"))
                num = np.nan
            values.append(num)
        table[col] = np.asarray(values, dtype=float)
    for col in dcfg.categorical:
        values = [None if is_missing(v) else str(v).strip() for v in raw[col]]
        for cid, v in zip(table.index, values, strict=True):
            if v is None:
                problems.append(Problem(cid, col, "warning",
                                        "missing value in categorical clinical variable "
                                        "(kept as its own 'missing' level)"))
        table[col] = pd.Series(values, index=table.index, dtype="object")
        levels = {v for v in values if v is not None}
        if require_label and len(levels) < 2:  # a study needs variation; scoring does not
            problems.append(Problem(COHORT, col, "error",
                                    f"categorical variable has {len(levels)} level(s) "
                                    f"({sorted(levels)}); it cannot discriminate — drop it "
                                    "from data.categorical"))

    present = {int(v) for v in table["label"].dropna()}
    if require_label and len(table) and len(present) < 2:
        name = {0: "benign", 1: "malignant"}
        problems.append(Problem(COHORT, dcfg.label, "error",
                                f"only one class in the cohort "
                                f"({', '.join(name[v] for v in sorted(present)) or 'none'}); "
                                "benign and malignant cases are both needed"))
    return Cohort(table, dcfg, problems, source)


def _resolve(value: object, base_dir: Path) -> str | None:
    """Absolute path(s) of a path cell; ``a.png|b.png`` (one ROI in several files) kept joined."""
    if is_missing(value):
        return None
    parts = []
    for part in str(value).split(MASK_SEPARATOR):
        p = Path(part.strip()).expanduser()
        # normpath, not resolve(): a symlink loop must fail on that case's read (a clear
        # per-case error), not raise RuntimeError while the manifest is parsed
        parts.append(os.path.normpath(p if p.is_absolute() else base_dir / p))
    return MASK_SEPARATOR.join(parts)


def _empty_table(dcfg: DataConfig) -> pd.DataFrame:
    cols = ["patient_id", "image", "mask", "mask_reader2", "label", "split", "subtype", "site",
            "mask_source", "spacing_row", "spacing_col", *dcfg.continuous, *dcfg.categorical]
    return pd.DataFrame(columns=cols, index=pd.Index([], name="case_id"))
