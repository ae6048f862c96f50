"""Reporting checklists shipped as data: TRIPOD+AI (2024), CLAIM (2024 update), METRICS (2024).

The item lists (number, section, short paraphrase; METRICS also its published weight and
the condition under which an item applies) live in the CSV files beside this module, with
their citations in ``SOURCES.md``. This module only reads them and scores METRICS; which
answer a run gives to an item is decided in :mod:`sonomics.study.checklists`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

#: checklist key -> (CSV file, title as journals name it, citation)
CHECKLISTS: dict[str, tuple[str, str, str]] = {
    "tripod_ai": ("tripod_ai.csv", "TRIPOD+AI",
                  "Collins GS et al. TRIPOD+AI statement. BMJ 2024;385:e078378"),
    "claim": ("claim_2024.csv", "CLAIM 2024",
              "Tejani AS et al. Checklist for Artificial Intelligence in Medical Imaging "
              "(CLAIM): 2024 Update. Radiol Artif Intell 2024;6(4):e240300"),
    "metrics": ("metrics.csv", "METRICS",
                "Kocak B et al. METhodological RadiomICs Score (METRICS). Insights Imaging "
                "2024;15:8"),
}

#: statuses of an item, in the order a user acts on them
REPORTED = "reported by sonomics"
FROM_CONFIG = "from the config"
AUTHORS = "authors must fill"
NOT_APPLICABLE = "not applicable"
STATUSES = (REPORTED, FROM_CONFIG, AUTHORS, NOT_APPLICABLE)


@dataclass(frozen=True)
class Answer:
    """How a run answers one checklist item.

    ``text``: the answer written from the run (or what the authors must add);
    ``link``: the report anchor (a table or figure name) that shows it, if any;
    ``met``: METRICS only — "yes", "no", "judgement" (a reviewer must decide) or "n/a".
    """

    status: str
    text: str
    link: str = ""
    met: str = ""


def load_items(key: str) -> pd.DataFrame:
    """The item list of one checklist (every cell text; ``weight`` numeric for METRICS)."""
    try:
        filename = CHECKLISTS[key][0]
    except KeyError:
        raise ValueError(f"checklist: unknown {key!r}; known: {list(CHECKLISTS)}") from None
    with resources.files(__name__).joinpath(filename).open(encoding="utf-8") as handle:
        items = pd.read_csv(handle, dtype=str, keep_default_na=False)
    if "weight" in items:
        items["weight"] = pd.to_numeric(items["weight"], errors="coerce")
    return items


def metrics_score(items: pd.DataFrame, met: dict[str, str]) -> dict[str, float]:
    """METRICS total score (%): the weights of the items met, over the weights of the items
    that apply (an item answered "n/a" leaves both sums).

    Items a reviewer must judge count as not met in ``score`` and as met in ``ceiling``, so
    the published score of the study lies between the two.
    """
    weights = dict(zip(items["item"], items["weight"], strict=True))
    unknown = set(met) - set(weights)
    if unknown:
        raise ValueError(f"METRICS: answers for unknown items {sorted(unknown)}")
    applicable = {i: w for i, w in weights.items() if met.get(i, "no") != "n/a"}
    total = sum(applicable.values())
    yes = sum(w for i, w in applicable.items() if met.get(i) == "yes")
    judged = sum(w for i, w in applicable.items() if met.get(i) == "judgement")
    return {"score": 100 * yes / total if total else 0.0,
            "ceiling": 100 * (yes + judged) / total if total else 0.0,
            "applicable_weight": total}
