"""The checklists stage: one table per checklist and the METRICS score, in the run and the
report (Methods 'reporting': what the authors of a paper made with sonomics must submit)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from sonomics.pipeline import Stage
from sonomics.report.checklists import (
    CHECKLISTS,
    NOT_APPLICABLE,
    STATUSES,
    Answer,
    load_items,
    metrics_score,
)
from sonomics.study.checklists import claim, metrics, tripod
from sonomics.study.checklists.facts import RunFacts, gather
from sonomics.study.context import StudyContext
from sonomics.study.outline import Section, table

ANSWERS: dict[str, dict[str, Callable[[RunFacts], Answer]]] = {
    "tripod_ai": tripod.ANSWERS, "claim": claim.ANSWERS, "metrics": metrics.ANSWERS}


def _applies(condition: str, holds: dict[str, bool]) -> bool:
    return all(holds[c] for c in condition.split(";") if c)


def _anchor(facts: RunFacts, link: str) -> str:
    """``#link`` when the report will show it (the Methods, the excluded cases, or a
    table/figure this run wrote); empty otherwise, so no checklist row points at nothing."""
    always = ("methods", "failures")  # the report writes both itself
    shown = link in always or facts.has_table(link) or link in facts.figures
    return f"#{link}" if link and shown else ""


def answer_items(key: str, facts: RunFacts) -> pd.DataFrame:
    """Every item of checklist ``key`` with the run's answer (missing answer: an error)."""
    items = load_items(key)
    answers = ANSWERS[key]
    missing = sorted(set(items["item"]) - set(answers), key=str)
    if missing:
        raise ValueError(f"checklist {key}: no answer for items {missing}")
    holds = metrics.conditions(facts) if key == "metrics" else {}
    rows = []
    for _, item in items.iterrows():
        condition = item.get("condition", "")
        if condition and not _applies(condition, holds):
            answer = Answer(NOT_APPLICABLE, f"Applies only with: {condition.replace(';', ' + ')}"
                            " (not the case in this run).", met="n/a")
        else:
            answer = answers[item["item"]](facts)
        row = {"Item": item["item"],
               "Section": item.get("section") or item.get("category", ""),
               "Topic": item.get("topic") or item.get("summary", ""),
               "Status": answer.status, "Answer from this run": answer.text,
               "Shown in report": _anchor(facts, answer.link)}
        if key == "metrics":
            row["Weight"] = float(item["weight"])
            row["Met"] = answer.met
        rows.append(row)
    return pd.DataFrame(rows)


def status_counts(frame: pd.DataFrame) -> str:
    counts = frame["Status"].value_counts()
    return ", ".join(f"{int(counts.get(s, 0))} {s}" for s in STATUSES)


def _metrics_note(frame: pd.DataFrame) -> str:
    items = load_items("metrics")
    score = metrics_score(items, dict(zip(frame["Item"], frame["Met"], strict=True)))
    raise_by = [f"item {r.Item}" for r in frame.itertuples() if r.Met == "no"]
    judged = int((frame["Met"] == "judgement").sum())
    return (f"METRICS score {score['score']:.1f}% counting only what this run shows; up to "
            f"{score['ceiling']:.1f}% if a reviewer accepts the {judged} "
            "items marked 'judgement' (weights of Kocak et al. 2024; an item whose condition "
            "does not hold leaves the denominator). Not met: "
            + (", ".join(raise_by) or "none") + " (the 'Answer' column says what would "
            "raise each).")


def checklists(ctx: StudyContext) -> None:
    facts = gather(ctx)
    for key, (_, title, citation) in CHECKLISTS.items():
        frame = answer_items(key, facts)
        note = f"{citation}. Items: {status_counts(frame)}."
        if key == "metrics":
            note += " " + _metrics_note(frame)
        note += (" Item texts are short paraphrases; use the official checklist for the "
                 "wording. Anchors (#name) point to the table or figure in report.html.")
        if ctx.config.data.synthetic:
            note += " SYNTHETIC DATA."
        ctx.run.write_table(frame, f"checklist_{key}", title=f"{title} checklist", note=note)


CHECKLIST_STAGE = Stage(
    "checklists", checklists, "Reporting checklists (TRIPOD+AI, CLAIM, METRICS)",
    needs=("evaluation",),
    settings=lambda ctx: ctx.config.model_dump(mode="json", exclude={"out"}),
    writes=("tables/checklist_*",),
    outline=Section("Reporting checklists", (
        table("checklist_tripod_ai", "TRIPOD+AI checklist (Collins et al., BMJ 2024)"),
        table("checklist_claim", "CLAIM 2024 checklist (Tejani et al., Radiol Artif Intell "
                                 "2024)"),
        table("checklist_metrics", "METRICS (Kocak et al., Insights Imaging 2024)"),
    )))
