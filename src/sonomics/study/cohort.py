"""Methods 2.1: the cohort — every case validated, then a patient-grouped, stratified split.

A case with an error (unreadable image, empty mask, unmappable label, ...) is excluded and
listed in ``tables/validation.csv``; the others go on. The split keeps every image of a
patient, and every near-duplicate of an image, on one side.
"""

from __future__ import annotations

from sonomics.data.manifest import COHORT, CohortError
from sonomics.data.splits import make_split, split_summary, write_split
from sonomics.pipeline import Stage
from sonomics.study.context import StudyContext


def validate(ctx: StudyContext) -> None:
    cohort = ctx.cohort()
    ctx.run.write_table(cohort.problems_frame(), "validation", title="Cohort validation",
                        note=ctx.note())
    fatal = [p for p in cohort.errors if p.case_id == COHORT]
    if fatal:
        raise CohortError("the cohort cannot be used:\n" + "\n".join(p.line() for p in fatal))
    excluded = cohort.excluded_cases()
    if excluded:
        ctx.console.print(f"  {len(excluded)} case(s) excluded for errors "
                          "(see tables/validation.csv)")
    ctx.console.print(f"  {len(cohort.usable())} usable cases, "
                      f"{len(cohort.warnings)} warning(s)")


def split(ctx: StudyContext) -> None:
    table = ctx.cohort().usable()
    sides = make_split(table, ctx.config.split)
    write_split(table, sides, ctx.run.split_csv)
    ctx.run.write_table(split_summary(table, sides), "split_summary",
                        title="Train/test split", note=ctx.note())


def _manifest(ctx: StudyContext) -> list:
    return [ctx.config.data.manifest] if ctx.config.data.manifest else []


def _split_settings(ctx: StudyContext) -> object:
    """The split's settings and the cases it splits (an excluded case changes the split)."""
    table = ctx.cohort().usable()
    groups = table["group_id"] if "group_id" in table else table["patient_id"]
    sites = table["site"].fillna("") if "site" in table else groups.map(lambda _: "")
    return [ctx.config.split.model_dump(mode="json"),
            sorted(zip(table.index.astype(str), groups.astype(str), sites.astype(str),
                       strict=True))]


def _data_settings(ctx: StudyContext) -> object:
    """The data settings; the manifest by content (``reads``), not by where it lies."""
    return ctx.config.data.model_dump(mode="json", exclude={"manifest"})


VALIDATE = Stage("validate", validate, "Validate the cohort", settings=_data_settings,
                 reads=_manifest, writes=("tables/validation.*",), always=True)
SPLIT = Stage("split", split, "Split train/test (patient-grouped, stratified)",
              needs=("validate",), settings=_split_settings,
              writes=("split.csv", "tables/split_summary.*"))
