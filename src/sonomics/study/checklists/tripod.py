"""TRIPOD+AI (BMJ 2024): how one run answers each item.

A run is a development study with internal validation on a held-out, patient-disjoint
test set (and, when the manifest marks cases ``external``, an external evaluation), so
both the D and the E items apply. Items about the manuscript's own text (title,
introduction, discussion) stay with the authors; the answer then lists the run's facts
the authors will need.
"""

from __future__ import annotations

from collections.abc import Callable

from sonomics.report.checklists import AUTHORS, NOT_APPLICABLE, Answer
from sonomics.study.checklists import texts as t
from sonomics.study.checklists.facts import RunFacts


def _design(f: RunFacts) -> str:
    external = ("with external evaluation on the cases marked external" if f.has_external
                else "with internal validation on a held-out, patient-disjoint test set; no "
                     "external validation")
    return f"Development of diagnostic prediction models (benign vs malignant) {external}."


def _heterogeneity(f: RunFacts) -> Answer:
    return Answer(AUTHORS, "Not examined by sonomics: the run has no centre or device "
                  "variable and fits one model on the pooled data; say whether the data come "
                  "from one centre (reporting.setting).")


ANSWERS: dict[str, Callable[[RunFacts], Answer]] = {
    "1": lambda f: Answer(AUTHORS, "Title: name the target population and the outcome "
                          "(benign vs malignant) and say: " + _design(f)),
    "2": lambda f: Answer(AUTHORS, "Abstract per TRIPOD+AI for Abstracts; "
                          + t.test_results(f)),
    "3a": lambda f: Answer(AUTHORS, "Clinical context and existing models: manuscript text."),
    "3b": lambda f: t.from_config(f, "intended_use", "Intended use, users and place in the "
                                  "care pathway"),
    "3c": lambda f: Answer(AUTHORS, "Known health inequalities between groups: manuscript "
                           "text."),
    "4": lambda f: Answer(AUTHORS, "Objectives; the run itself is: " + _design(f)),
    "5a": lambda f: t.from_config(f, "setting", "Data sources, why chosen, representativeness"),
    "5b": lambda f: t.from_config(f, "data_collection_dates", "Start and end of data "
                                  "collection"),
    "6a": lambda f: t.from_config(f, "setting", "Setting, number and location of centres"),
    "6b": lambda f: t.from_config(f, "eligibility", "Eligibility criteria"),
    "6c": lambda f: t.from_config(f, "treatments", "Treatments, if relevant (usually none "
                                  "before the diagnostic image)"),
    "7": lambda f: t.reported(t.preprocessing(f) + " Quality checks: every case validated "
                              "(image readable, mask non-empty and inside the image, label "
                              "known, near-duplicates grouped); not compared across "
                              "sociodemographic groups.", "validation"),
    "8a": lambda f: t.from_config(f, "reference_standard", "Outcome definition (benign vs "
                                  "malignant) and how it was established"),
    "8b": lambda f: t.from_config(f, "reference_standard", "Qualifications of the outcome "
                                  "assessors (e.g. pathologists)"),
    "8c": lambda f: t.from_config(f, "reference_standard", "Blinding of outcome assessment"),
    "9a": lambda f: t.reported(
        "Predictors: clinical variables declared in the config ("
        + (", ".join(f.cfg.data.continuous + f.cfg.data.categorical) or "none")
        + f"), {f.n_handcrafted} handcrafted radiomics features per image and CNN outputs; "
        "no pre-selection "
        "outside the training data. " + t.selection(f), "methods"),
    "9b": lambda f: t.from_config(f, "predictor_blinding", "Definition of each predictor and "
                                  "any blinding of its assessment (handcrafted features are "
                                  "defined by the pyradiomics parameter file)"),
    "9c": lambda f: t.from_config(f, "annotators", "Who drew the lesion masks and assessed "
                                  "the clinical/ultrasound factors, and their experience"),
    "10": lambda f: Answer(AUTHORS, "No sample size calculation is made by sonomics; facts: "
                           + f.split_sentence() + "; " + f.events_per_variable() + "."),
    "11": lambda f: t.reported(t.missing_data(f), "failures"),
    "12a": lambda f: t.reported(t.partition(f), "split_summary"),
    "12b": lambda f: t.reported("Continuous clinical variables linear on their scale, "
                                "categorical ones as indicator columns against a reference "
                                "level; features z-scored with training statistics inside "
                                "every fitted pipeline.", "supp_table1_clinical_lr"),
    "12c": lambda f: t.reported(t.selection(f) + " " + t.tuning(f) + " Internal validation: "
                                "patient-grouped cross-validation (out-of-fold training "
                                "scores) and the held-out test set.", "methods"),
    "12d": _heterogeneity,
    "12e": lambda f: t.reported(t.performance(f), "table7_all_models"),
    "12f": lambda f: t.reported("No model updating or recalibration after evaluation."),
    "12g": lambda f: t.reported(t.specification(f), "nomogram_coefficients"),
    "13": lambda f: t.reported(t.class_balance(f), "split_summary"),
    "14": lambda f: t.from_config(f, "fairness", "Approach to fairness (subgroups examined)"),
    "15": lambda f: t.reported(t.outputs(f), "table7_all_models"),
    "16": lambda f: t.reported(
        "Development and evaluation data come from the same source by a random patient "
        "split, so setting, eligibility, outcome and predictors are the same; Table 2 "
        "compares them." if not f.has_external else "External cases: compare their setting "
        "and eligibility in the text; Table 2 compares the variables.", "table2_train_test"),
    "17": lambda f: t.from_config(f, "ethics", "Ethics committee and consent"),
    "18a": lambda f: t.from_config(f, "funding", "Funding and the funders' role"),
    "18b": lambda f: t.from_config(f, "conflicts_of_interest", "Conflicts of interest"),
    "18c": lambda f: t.from_config(f, "protocol", "Protocol availability"),
    "18d": lambda f: t.from_config(f, "registration", "Registration"),
    "18e": lambda f: t.from_config(f, "data_sharing", "Data availability"),
    "18f": lambda f: t.from_config(f, "code_sharing", "Code availability (sonomics is open "
                                   "source; share the run's config.yaml)"),
    "19": lambda f: t.from_config(f, "patient_involvement", "Patient and public involvement"),
    "20a": lambda f: t.reported(t.cohort(f), "split_summary"),
    "20b": lambda f: t.reported("Characteristics by set and by class in Tables 1-2; "
                                + t.missing_data(f), "table2_train_test"),
    "20c": lambda f: t.reported("Training and testing distributions compared in Table 2.",
                                "table2_train_test"),
    "21": lambda f: t.reported(t.cohort(f) + " Every model is fitted on the training set and "
                               "evaluated on the test set; tuning uses training folds only.",
                               "split_summary"),
    "22": lambda f: t.reported(t.specification(f), "nomogram_coefficients"),
    "23a": lambda f: t.reported(t.test_results(f) + " " + t.performance(f),
                                "table7_all_models"),
    "23b": _heterogeneity,
    "24": lambda f: Answer(NOT_APPLICABLE, "No model updating was done."),
    "25": lambda f: Answer(AUTHORS, "Interpretation: manuscript text; " + t.test_results(f)),
    "26": lambda f: Answer(AUTHORS, "Limitations: manuscript text. " + t.limitations(f)),
    "27a": lambda f: t.reported(
        "`sonomics predict` validates every new case: an unreadable image or empty mask "
        "gives an error row naming the case and field, and a missing clinical value either "
        "an error row or a listed imputation (predict.impute_missing = "
        f"{f.cfg.predict.impute_missing})."),
    "27b": lambda f: Answer(AUTHORS, "Users and expertise: a lesion mask must be drawn for "
                            "every image; say who would do it."),
    "27c": lambda f: Answer(AUTHORS, "Next steps: manuscript text. " + t.limitations(f)),
}
