"""Methods 2.1 / Tables 1-2: the lesions by class and subtype, and the clinical
characteristics of the training vs testing set and of benign vs malignant cases."""

from __future__ import annotations

from sonomics.evaluation.baseline import table1, table2
from sonomics.pipeline import Stage
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, table


def baseline(ctx: StudyContext) -> None:
    cohort = ctx.cohort()
    cases, sides = ctx.cases()
    dcfg = cohort.config
    ctx.run.write_table(table1(cases, "subtype"), "table1_distribution",
                        title="Table 1. Distribution of lesions by class and subtype",
                        note=ctx.note())
    if not cohort.clinical_columns:
        ctx.console.print("  no clinical variables declared: Table 2 skipped")
        return
    t2 = table2(cases, sides.where(sides != "external"), ["train", "test"], dcfg.continuous,
                dcfg.categorical)
    t2 = t2.rename(columns=lambda c: c.replace("train (", "Training set (")
                   .replace("test (", "Testing set ("))
    ctx.run.write_table(t2, "table2_train_test",
                        title="Table 2. Clinical and ultrasound characteristics, training vs "
                              "testing", note=ctx.note())
    classes = cases["label"].astype(int).map({0: "Benign", 1: "Malignant"})
    t2c = table2(cases, classes, ["Benign", "Malignant"], dcfg.continuous, dcfg.categorical,
                 include_all=False)
    ctx.run.write_table(t2c, "table2_benign_malignant",
                        title="Table 2b. Clinical and ultrasound characteristics, benign vs "
                              "malignant", note=ctx.note())


BASELINE = Stage(
    "baseline", baseline, "Baseline tables (Tables 1-2)", needs=("split",),
    writes=("tables/table1_distribution.*", "tables/table2_train_test.*",
            "tables/table2_benign_malignant.*"),
    outline=Section("Cohort", (
        table("table1_distribution", "Table 1. Distribution of lesions by class and subtype"),
        table("split_summary", "Train/test split"),
        table("table2_train_test", "Table 2. Clinical and ultrasound characteristics, "
                                   "training vs testing set"),
        table("table2_benign_malignant", "Table 2b. Characteristics, benign vs malignant"),
    )))
