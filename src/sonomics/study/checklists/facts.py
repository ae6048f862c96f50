"""What a finished run can say about itself, gathered once for the reporting checklists.

Every checklist answer that sonomics writes is built from these facts (the run's config,
split, tables, stored models and figures), so changing a setting or the cohort changes
the answer; nothing here is a fixed sentence about a study sonomics did not run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sonomics.config import StudyConfig
from sonomics.data.splits import ALL_SITES
from sonomics.rundir import Model, RunDir
from sonomics.study.context import StudyContext


@dataclass
class RunFacts:
    """Counts, settings and the presence of outputs, read from one run directory."""

    cfg: StudyConfig
    run: RunDir
    cases: dict[str, int] = field(default_factory=dict)  # split -> images
    patients: dict[str, int] = field(default_factory=dict)  # split -> patients
    malignant: dict[str, int] = field(default_factory=dict)  # split -> malignant images
    excluded: int = 0  # cases excluded by validation or a failed stage
    missing: dict[str, int] = field(default_factory=dict)  # clinical variable -> missing
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # stored meta by model
    tables: set[str] = field(default_factory=set)
    figures: set[str] = field(default_factory=set)
    icc_kind: str | None = None  # "inter-reader ICC" | "perturbation ICC ..." | None
    icc_kept: tuple[int, int] | None = None  # (kept, total) features
    test_auc: dict[str, str] = field(default_factory=dict)  # model -> "0.893 (0.840 - 0.946)"

    # ------------------------------------------------------------------ derived
    @property
    def has_external(self) -> bool:
        return self.cases.get("external", 0) > 0

    @property
    def several_images_per_patient(self) -> bool:
        return sum(self.cases.values()) > sum(self.patients.values())

    @property
    def random_init(self) -> bool:
        return bool(self.models.get("deep", {}).get("random_init"))

    @property
    def crop_margin_words(self) -> str:
        """The CNN's crop margin for Methods texts: the one the deep stage used."""
        return self.cfg.deep.margin_words(self.models.get("deep", {}).get("crop_margin"))

    @property
    def has_clinical(self) -> bool:
        return "clinical" in self.models

    @property
    def has_deep(self) -> bool:
        return "deep" in self.models

    @property
    def n_handcrafted(self) -> int:
        """Handcrafted features the radiomics model could use (after dropping non-finite)."""
        return len(self.models.get("radiomics", {}).get("features_in", []))

    def has_table(self, name: str) -> bool:
        return name in self.tables

    def has_figure(self, prefix: str) -> bool:
        return any(f.startswith(prefix) for f in self.figures)

    def split_sentence(self) -> str:
        parts = []
        for side in ("train", "test", "external"):
            if self.cases.get(side):
                parts.append(f"{side}: {self.cases[side]} images of {self.patients[side]} "
                             f"patients, {self.malignant[side]} malignant")
        return "; ".join(parts)

    def events_per_variable(self) -> str:
        """Training events (the smaller class) per candidate predictor of each model."""
        train, events = self.cases.get("train", 0), self.malignant.get("train", 0)
        smaller = min(events, train - events)
        parts = []
        clinical = self.cfg.data.continuous + self.cfg.data.categorical
        if clinical:
            parts.append(f"clinical model: {smaller} events for {len(clinical)} candidate "
                         f"variables ({smaller / len(clinical):.1f} per variable)")
        for key, label in (("radiomics", "radiomics model"), ("dlr", "DLR model")):
            meta = self.models.get(key)
            if meta:
                n_in, n_sel = len(meta.get("features_in", [])), len(meta.get("selected", []))
                if n_sel:
                    parts.append(f"{label}: {n_in} candidate features, {n_sel} selected "
                                 f"({smaller / n_sel:.1f} events per selected feature)")
        return "; ".join(parts)


def _auc_cells(run: RunDir) -> dict[str, str]:
    table = run.table("table7_all_models")
    if table is None:
        return {}
    out = {}
    for _, row in table.iterrows():
        name = str(row["Model"])
        if name.endswith("-testing"):
            out[name.removesuffix("-testing")] = f"{float(row['AUC']):.3f} ({row['95% CI']})"
    return out


def _missing(cfg: StudyConfig, train_ids: pd.Index) -> dict[str, int]:
    manifest = cfg.data.manifest
    variables = cfg.data.continuous + cfg.data.categorical
    if not variables or manifest is None or not Path(manifest).exists():
        return {}
    from sonomics.data.manifest import read_table

    table = read_table(manifest).set_index(cfg.data.case_id)
    table = table.loc[table.index.intersection(train_ids)]
    blank = table[[v for v in variables if v in table]].apply(
        lambda col: col.isna() | (col.astype(str).str.strip() == ""))
    return {k: int(v) for k, v in blank.sum().items()}


def gather(ctx: StudyContext) -> RunFacts:
    """Read everything the checklists need from the context's run (finished or partial)."""
    from sonomics.study.report import collect_failures

    run, cfg = ctx.run, ctx.config
    facts = RunFacts(cfg=cfg, run=run)
    summary = run.table("split_summary")
    if summary is not None:
        if "site" in summary:  # several sites: the rows over all of them
            summary = summary[summary["site"].astype(str) == ALL_SITES]
        for _, row in summary.iterrows():
            side = str(row["split"])
            facts.cases[side] = int(row["cases"])
            facts.patients[side] = int(row["patients"])
            facts.malignant[side] = int(row["malignant"])
    facts.excluded = int(collect_failures(ctx)["case_id"].nunique())
    facts.models = {m.value: meta for m in Model if (meta := run.meta(m.value)) is not None}
    facts.tables = {p.stem for p in run.tables.glob("*.csv")} if run.tables.exists() else set()
    facts.figures = ({p.stem for p in run.figures.glob("*.png")}
                     if run.figures.exists() else set())
    icc = run.table("radiomics_icc")
    if icc is not None and len(icc):
        facts.icc_kind = str(icc["kind"].iloc[0])
        facts.icc_kept = (int(icc["keep"].astype(str).eq("True").sum()), len(icc))
    facts.test_auc = _auc_cells(run)
    try:
        split = run.split()
        facts.missing = _missing(cfg, split.index[split == "train"])
    except (FileNotFoundError, KeyError, ValueError):
        facts.missing = {}
    return facts
