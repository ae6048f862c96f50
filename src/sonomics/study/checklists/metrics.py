"""METRICS (Insights Imaging 2024): one run's answer to each item, met or not, and why.

``met`` is "yes" only where the run itself shows the item is satisfied; "judgement" where
the answer depends on what the authors wrote or on a reviewer's reading (the score then
gives a floor and a ceiling); "no" with what would raise the score; "n/a" where the
item's condition does not hold (e.g. no automated segmentation).
"""

from __future__ import annotations

from collections.abc import Callable

from sonomics.report.checklists import AUTHORS, FROM_CONFIG, NOT_APPLICABLE, Answer
from sonomics.study.checklists import texts as t
from sonomics.study.checklists.facts import RunFacts


def conditions(f: RunFacts) -> dict[str, bool]:
    """Which of METRICS' conditions hold for this run (conditional items apply or not)."""
    return {"segmentation": True,  # every case comes with a lesion mask
            "automated_segmentation": False,  # masks come from readers, not a model
            "handcrafted_features": f.n_handcrafted > 0,
            "tabular_data": f.n_handcrafted > 0 or f.has_clinical,
            "deep_learning_end_to_end": f.has_deep}


def _judged(f: RunFacts, key: str, what: str) -> Answer:
    """A reviewer judges the authors' own statement (absent: not met)."""
    value = getattr(f.cfg.reporting, key)
    if value:
        return Answer(FROM_CONFIG, f"{value} (a reviewer judges whether this meets the item)",
                      met="judgement")
    return Answer(AUTHORS, f"{what}: not stated; set reporting.{key} (raises the score if "
                  "a reviewer accepts it)", met="no")


def _features_per_events(f: RunFacts) -> Answer:
    train, events = f.cases.get("train", 0), f.malignant.get("train", 0)
    smaller = min(events, train - events)
    selected = [len(m.get("selected", [])) for k, m in f.models.items()
                if k in ("radiomics", "dlr") and m.get("selected")]
    if not selected:
        return Answer(NOT_APPLICABLE, "No handcrafted feature model in this run.", met="n/a")
    worst = max(selected)
    ok = worst * 10 <= smaller
    return t.reported(f"{f.events_per_variable()}. Rule applied: at least 10 events (smaller "
                      f"class) per selected feature — {'met' if ok else 'NOT met'}"
                      + ("" if ok else ": fewer features or more patients would raise the "
                         "score") + ".", "table4_radiomics_models", met="yes" if ok else "no")


def _external(f: RunFacts) -> Answer:
    if f.has_external:
        return t.reported(f"External test set of {f.cases['external']} images.",
                          "table7_all_models", met="yes")
    return t.reported("No external test set: add an external split (cases from another "
                      "institution marked `external` in the manifest) to meet this item.",
                      met="no")


def _comparison_clinical(f: RunFacts) -> Answer:
    if f.has_clinical or f.has_table("table8_comparators"):
        return t.reported("Compared with the clinical model and/or the radiologist's BI-RADS "
                          "(DeLong tests, Holm-adjusted).", "table7_all_models", met="yes")
    return t.reported("No non-radiomic comparator (no clinical variables, no BI-RADS column).",
                      met="no")


def _calibration(f: RunFacts) -> Answer:
    if f.has_table("calibration_summary") or f.has_table("hosmer_lemeshow"):
        return t.reported("Calibration curves, calibration-in-the-large and slope with 95% "
                          "CIs, Brier, Emax/Eavg and Hosmer-Lemeshow tests for every model "
                          "(training rows on out-of-fold scores).",
                          "calibration_summary" if f.has_table("calibration_summary")
                          else "hosmer_lemeshow", met="yes")
    return t.reported("Calibration was not assessed in this run.", met="no")


ANSWERS: dict[str, Callable[[RunFacts], Answer]] = {
    "1": lambda f: Answer(AUTHORS, "sonomics fills TRIPOD+AI and CLAIM from the run (above); "
                          "adherence is judged on the manuscript.", met="judgement"),
    "2": lambda f: _judged(f, "eligibility", "Eligibility criteria"),
    "3": lambda f: _judged(f, "reference_standard", "Reference standard"),
    "4": lambda f: _judged(f, "setting", "Number of institutions"),
    "5": lambda f: _judged(f, "imaging_protocol", "Standardised imaging protocol"),
    "6": lambda f: _judged(f, "imaging_protocol", "Acquisition protocol"),
    "7": lambda f: _judged(f, "reference_standard", "Interval between imaging and reference "
                           "standard"),
    "8": lambda f: _judged(f, "annotators", "Segmentation method and rules (manual masks; "
                           "by whom)"),
    "9": lambda f: Answer(NOT_APPLICABLE, "Masks are drawn by readers; no automated "
                          "segmentation.", met="n/a"),
    "10": lambda f: t.reported("Every test case is modelled from one reader's mask (reader "
                               "1), as in practice.", met="yes"),
    "11": lambda f: t.reported(t.preprocessing(f), "methods", met="yes"),
    "12": lambda f: t.reported("pyradiomics (IBSI-compliant definitions; sonomics checks "
                               "the IBSI-1 phantom values in its tests); version under "
                               "Methods.", "methods", met="yes"),
    "13": lambda f: t.reported("Extraction settings: "
                               + (str(f.cfg.radiomics.params) if f.cfg.radiomics.params
                                  else "the shipped parameter file radiomics_2d.yaml")
                               + f", bin width {f.cfg.radiomics.bin_width:g}; the resolved "
                               "config is saved as config.yaml in the run.", "methods",
                               met="yes"),
    "14": lambda f: t.reported(t.robustness(f), "methods",
                               met="yes" if f.icc_kind else "no"),
    "15": lambda f: t.reported(t.selection(f), "lasso_radiomics_coefficients", met="yes"),
    "16": _features_per_events,
    "17": lambda f: t.reported("The CNN's robustness (test-retest, readers, perturbations) is "
                               "not assessed by sonomics: a perturbation study of the CNN "
                               "would raise the score.", met="no"),
    "18": lambda f: t.reported(t.partition(f) + " Every fitted step learns from training "
                               "data only.", "split_summary", met="yes"),
    "19": lambda f: Answer(AUTHORS, "Confounders (e.g. device, centre, age) are not analysed "
                           "by sonomics; name and handle them in the text (reporting."
                           "fairness).", met="judgement" if f.cfg.reporting.fairness
                           else "no"),
    "20": lambda f: t.reported("AUC, accuracy, sensitivity, specificity, PPV, NPV.",
                               "table7_all_models", met="yes"),
    "21": lambda f: t.reported(t.performance(f), "table7_all_models", met="yes"),
    "22": _calibration,
    "23": lambda f: t.reported("Uni-parametric: one B-mode ultrasound image per case.",
                               met="yes"),
    "24": _comparison_clinical,
    "25": lambda f: t.reported("Compared with logistic regression among the classifiers and "
                               "with simple comparators (shape-only model, DeLong tests).",
                               "table8_comparators", met="yes"),
    "26": lambda f: t.reported(f"Held-out internal test set ({f.cases.get('test', 0)} "
                               "images), patient-disjoint, used once.", "table7_all_models",
                               met="yes"),
    "27": _external,
    "28": lambda f: _judged(f, "data_sharing", "Data sharing"),
    "29": lambda f: _judged(f, "code_sharing", "Code sharing (sonomics is open source; the "
                            "study's config must be shared too)"),
    "30": lambda f: Answer(AUTHORS, "The run's bundle/ holds the final models with "
                           "`sonomics predict` to apply them; whether it is published is "
                           "the authors' decision.", "", met="judgement"),
}
