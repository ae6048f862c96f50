"""Train/test partition: seeded, stratified by class, grouped by patient.

The paper splits its 526 patients at random 7:3. When a patient contributes
several images (BUS-BRA), all of them go to the same side: the split is made
on patients, stratified on the patient's label (malignant if any of their
lesions is), so no patient is on both sides. A manifest split column
(``train``/``test``/``external``) overrides the random split; an ``external``
set is evaluated like the test set but reported separately. ``split.external_sites``
makes every case of the named sites (``site`` column) external, for validation on
another centre; no patient may have images on both an external and another site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from sonomics.config import SplitConfig
from sonomics.io import atomic_write_text, csv_text


class SplitError(ValueError):
    """The requested split cannot be made."""


def make_split(table: pd.DataFrame, cfg: SplitConfig) -> pd.Series:
    """Return ``case_id -> "train" | "test" | "external"`` for the rows of ``table``.

    ``table`` needs ``patient_id`` and ``label`` columns (a Cohort table); when it
    has a ``split`` column with a value on every row and ``cfg.use_manifest_split``,
    that split is used as given after checking it keeps patients on one side. Cases of
    ``cfg.external_sites`` (``site`` column) are external whatever the split column says;
    the other cases are split as above.
    """
    external = external_cases(table, cfg.external_sites)
    if not external.any():
        return _internal_split(table, cfg)
    if external.all():
        raise SplitError(f"split.external_sites {cfg.external_sites} hold every case: "
                         "nothing is left to train on")
    inner = _internal_split(table.loc[~external], cfg)
    split = pd.concat([inner, pd.Series("external", index=table.index[external])])
    split = split.loc[table.index].rename("split")
    _check_grouping(table, split)
    return split


def external_cases(table: pd.DataFrame, sites: list[str]) -> pd.Series:
    """``case_id -> True`` for the cases of the named external sites."""
    if not sites:
        return pd.Series(False, index=table.index)
    site = table["site"] if "site" in table else pd.Series(None, index=table.index)
    if site.isna().all():
        raise SplitError("split.external_sites is set but the manifest has no 'site' column "
                         "(data.site names it; `sonomics datasets merge` writes one)")
    if site.isna().any():
        missing = ", ".join(map(str, site.index[site.isna()][:5]))
        raise SplitError(f"split.external_sites needs the site of every case; field 'site' is "
                         f"empty for case(s) {missing}")
    unknown = sorted(set(sites) - set(site))
    if unknown:
        raise SplitError(f"split.external_sites: site(s) {unknown} not in the manifest's site "
                         f"column (it has {sorted(set(site))})")
    return site.isin(sites)


def _internal_split(table: pd.DataFrame, cfg: SplitConfig) -> pd.Series:
    """The train/test split of the cases that are not of an external site."""
    if "split" in table and cfg.use_manifest_split and table["split"].notna().any():
        given = table["split"]
        if given.isna().any():
            missing = ", ".join(map(str, given.index[given.isna()][:5]))
            raise SplitError(f"the manifest's split column is empty for some cases ({missing}…); "
                             "fill it for every case or remove it")
        split = given.astype(str).rename("split")
        _check_grouping(table, split)
        if (split == "train").sum() == 0:
            raise SplitError("the manifest's split column has no 'train' case")
        return split

    labels = table["label"].astype(int)
    # group_id (set by validation) joins a patient's images with their near-duplicates
    patients = case_groups(table)
    patient_label = labels.groupby(patients).max()
    counts = patient_label.value_counts()
    n_test = int(np.ceil(cfg.test_size * len(patient_label)))
    if len(counts) < 2 or counts.min() < 2 or n_test < 2 or len(patient_label) - n_test < 2:
        raise SplitError(f"too few patients per class to split {1 - cfg.test_size:.0%}:"
                         f"{cfg.test_size:.0%} with stratification "
                         f"(patients per class: {counts.to_dict()})")
    _, test_p = train_test_split(
        patient_label.index.to_numpy(), test_size=cfg.test_size, random_state=cfg.seed,
        stratify=patient_label.to_numpy(), shuffle=True)
    side = pd.Series("train", index=patient_label.index)
    side.loc[test_p] = "test"
    return pd.Series(side.loc[patients].to_numpy(), index=table.index, name="split")


def _check_grouping(table: pd.DataFrame, split: pd.Series) -> None:
    sides = split.groupby(case_groups(table)).nunique()
    mixed = sides.index[sides > 1].tolist()
    if mixed:
        raise SplitError(f"patients (or near-duplicate images) on both sides of the manifest's "
                         f"split: {mixed[:5]} — all images of a patient, and every copy of an "
                         "image, must be on one side")


def split_summary(table: pd.DataFrame, split: pd.Series) -> pd.DataFrame:
    """Counts of cases, patients and malignant cases per side (and per site, when the
    cohort has several)."""
    frame = table.assign(split=split)

    def counts(keys: list[str]) -> pd.DataFrame:
        out = frame.groupby(keys).agg(cases=("label", "size"),
                                      patients=("patient_id", "nunique"),
                                      malignant=("label", "sum"))
        out["malignant_fraction"] = (out["malignant"] / out["cases"]).round(3)
        return out.reset_index()

    if not has_sites(table):
        return counts(["split"])
    # one row per side over every site (site "all"), then one per side and site
    return pd.concat([counts(["split"]).assign(site=ALL_SITES), counts(["split", "site"])],
                     ignore_index=True)[["split", "site", "cases", "patients", "malignant",
                                         "malignant_fraction"]]


#: the ``site`` of :func:`split_summary`'s rows that count every site of a side
ALL_SITES = "all"


def has_sites(table: pd.DataFrame) -> bool:
    """Whether the cohort names a site for its cases and has more than one."""
    return "site" in table and table["site"].notna().any() and table["site"].nunique() > 1


def write_split(table: pd.DataFrame, split: pd.Series, path: str | Path) -> Path:
    """Write ``split.csv`` (case_id, patient_id, label, split[, site]) atomically."""
    frame = pd.DataFrame({"patient_id": table["patient_id"], "label": table["label"].astype(int),
                          "split": split})
    if "site" in table and table["site"].notna().any():
        frame["site"] = table["site"]
    frame.index.name = "case_id"
    return atomic_write_text(path, csv_text(frame))


def training_folds(n_splits: int, groups: Any = None, random_state: int | None = 0):
    """The splitter of every cross-validation inside a training set: stratified by class
    and, when ``groups`` are given (patient joined with near-duplicate group, see
    :func:`case_groups`), grouped so no patient's images sit on both sides of a fold.

    Images of one patient, or near-copies of one image, are not independent; folds of
    images let a model be scored on a copy of what it was fitted on, which inflates every
    cross-validated figure and favours memorising classifiers.
    """
    if groups is None:
        return StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    return StratifiedGroupKFold(n_splits, shuffle=True, random_state=random_state)


def groups_per_class(y: Any, groups: Any) -> tuple[int, int]:
    """(benign, malignant) number of groups (a group is malignant if any case is)."""
    frame = pd.DataFrame({"y": np.asarray(y).astype(int), "g": np.asarray(groups).astype(str)})
    per_group = frame.groupby("g")["y"].max()
    return int((per_group == 0).sum()), int((per_group == 1).sum())


def case_groups(table: pd.DataFrame) -> pd.Series:
    """case_id -> the group inner splits keep together: ``group_id`` (patient joined with
    near-duplicate group, set by validation) where present, else ``patient_id``."""
    key = "group_id" if "group_id" in table and table["group_id"].notna().all() else "patient_id"
    return table[key].astype(str).rename("group")
