"""Reporting checklists (TRIPOD+AI, CLAIM 2024, METRICS) filled from a run's facts.

The facts are written by hand here (what `gather` reads from a run), so each answer can be
checked against the setting that should drive it; the whole-study test checks that a real
run writes the three tables into the report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sonomics.config import StudyConfig
from sonomics.report.checklists import (
    AUTHORS,
    FROM_CONFIG,
    NOT_APPLICABLE,
    STATUSES,
    load_items,
    metrics_score,
)
from sonomics.rundir import RunDir
from sonomics.study.checklists.facts import RunFacts
from sonomics.study.checklists.stage import answer_items

EXPECTED_ITEMS = {"tripod_ai": 52, "claim": 44, "metrics": 30}


def _facts(tmp_path: Path, cfg: StudyConfig | None = None, external: int = 0) -> RunFacts:
    cases = {"train": 280, "test": 120, **({"external": external} if external else {})}
    return RunFacts(
        cfg=cfg or StudyConfig(), run=RunDir(tmp_path),
        cases=cases, patients=dict(cases),
        malignant={"train": 100, "test": 43, **({"external": 30} if external else {})},
        models={"radiomics": {"features_in": ["f"] * 1400, "selected": ["a", "b", "c", "d"]},
                "deep": {"label": "Resnet18", "random_init": True,
                         "weights_source": {"resnet18": "random"}},
                "dlr": {"features_in": ["f"] * 1401, "selected": ["a", "b", "deep_score"]},
                "clinical": {}, "nomogram": {}},
        tables={"split_summary", "table7_all_models", "hosmer_lemeshow",
                "table8_comparators"},
        figures={"calibration_test", "fig3_gradcam_resnet18"},
        icc_kind="inter-reader ICC", icc_kept=(1300, 1497),
        test_auc={"Nomogram": "0.900 (0.850 - 0.950)"})


@pytest.mark.parametrize("key", list(EXPECTED_ITEMS))
def test_every_item_of_each_checklist_has_a_status_and_an_answer(tmp_path, key):
    items = load_items(key)
    assert len(items) == EXPECTED_ITEMS[key] and items["item"].is_unique
    table = answer_items(key, _facts(tmp_path))
    assert list(table["Item"]) == list(items["item"])
    assert set(table["Status"]) <= set(STATUSES)
    assert (table["Answer from this run"].str.len() > 10).all()


def test_metrics_weights_are_the_published_ones_and_sum_to_one():
    items = load_items("metrics")
    assert items["weight"].sum() == pytest.approx(1.0, abs=1e-3)
    weights = dict(zip(items["item"], items["weight"], strict=True))
    assert weights["1"] == 0.0368 and weights["3"] == 0.0919 and weights["27"] == 0.0749
    assert items.set_index("item").loc["9", "condition"] == "segmentation;automated_segmentation"


def test_metrics_score_equals_the_hand_computed_value(tmp_path):
    table = answer_items("metrics", _facts(tmp_path))
    met = dict(zip(table["Item"], table["Met"], strict=True))
    assert met["9"] == "n/a"  # masks drawn by readers: the automated-segmentation item
    assert {i for i, m in met.items() if m == "yes"} == {
        "10", "11", "12", "13", "14", "15", "16", "18", "20", "21", "22", "23", "24", "25",
        "26"}
    # by hand from Table 1 of Kocak et al. 2024: the weights of the 15 items met ...
    yes = (0.0112 + 0.0622 + 0.0311 + 0.0415 + 0.0200 + 0.0200 + 0.0300 + 0.0599 + 0.0352
           + 0.0234 + 0.0176 + 0.0117 + 0.0293 + 0.0176 + 0.0375)
    applicable = 1.0 - 0.0225  # ... over every weight but item 9's
    judged = 0.0368 + 0.0075  # items 1 and 30 need a reviewer
    score = metrics_score(load_items("metrics"), met)
    assert score["score"] == pytest.approx(100 * yes / applicable, abs=1e-9)
    assert score["ceiling"] == pytest.approx(100 * (yes + judged) / applicable, abs=1e-9)
    assert round(score["score"], 1) == 45.9


def test_a_changed_setting_changes_the_answer(tmp_path):
    cfg = StudyConfig()
    before = answer_items("tripod_ai", _facts(tmp_path, cfg)).set_index("Item")
    cfg.split.test_size = 0.25
    cfg.selection.p_threshold = 0.01
    cfg.reporting.ethics = "Ethics board X, approval 2024-17, consent waived"
    after = answer_items("tripod_ai", _facts(tmp_path, cfg)).set_index("Item")
    assert "70%:30%" in before.loc["12a", "Answer from this run"]
    assert "75%:25%" in after.loc["12a", "Answer from this run"]
    assert "p < 0.05" in before.loc["12c", "Answer from this run"]
    assert "p < 0.01" in after.loc["12c", "Answer from this run"]
    assert before.loc["17", "Status"] == AUTHORS
    assert "reporting.ethics" in before.loc["17", "Answer from this run"]
    assert after.loc["17", "Status"] == FROM_CONFIG
    assert after.loc["17", "Answer from this run"].startswith("Ethics board X")


def test_external_validation_items_follow_the_external_set(tmp_path):
    internal = {k: answer_items(k, _facts(tmp_path)).set_index("Item")
                for k in ("claim", "metrics")}
    external = {k: answer_items(k, _facts(tmp_path, external=90)).set_index("Item")
                for k in ("claim", "metrics")}
    assert internal["metrics"].loc["27", "Met"] == "no"
    assert "add an external split" in internal["metrics"].loc["27", "Answer from this run"]
    assert external["metrics"].loc["27", "Met"] == "yes"
    assert "No external testing" in internal["claim"].loc["33", "Answer from this run"]
    assert "90 images" in external["claim"].loc["33", "Answer from this run"]


def test_without_a_cnn_the_deep_learning_items_do_not_apply(tmp_path):
    facts = _facts(tmp_path)
    del facts.models["deep"]
    facts.figures.discard("fig3_gradcam_resnet18")
    metrics = answer_items("metrics", facts).set_index("Item")
    assert metrics.loc["17", "Status"] == NOT_APPLICABLE and metrics.loc["17", "Met"] == "n/a"
    claim = answer_items("claim", facts).set_index("Item")
    assert claim.loc["31", "Status"] == NOT_APPLICABLE  # no Grad-CAM without a CNN


def test_too_many_features_for_the_events_is_not_met_and_says_why(tmp_path):
    facts = _facts(tmp_path)
    facts.models["radiomics"]["selected"] = [f"f{i}" for i in range(25)]  # 100 events / 25
    row = answer_items("metrics", facts).set_index("Item").loc["16"]
    assert row["Met"] == "no" and "NOT met" in row["Answer from this run"]


def test_checklist_files_ship_with_their_sources():
    from importlib import resources

    folder = resources.files("sonomics.report.checklists")
    sources = folder.joinpath("SOURCES.md").read_text(encoding="utf-8")
    assert "bmj-2023-078378" in sources and "s13244-023-01572-w" in sources
    frame = pd.read_csv(folder.joinpath("claim_2024.csv").open(encoding="utf-8"), dtype=str)
    assert frame.loc[frame["item"] == "12", "topic"].item() == "Missing data"  # 2024 numbering
