"""CLAIM 2024 update: how one run answers each item (the 2024 numbering, 1-44)."""

from __future__ import annotations

from collections.abc import Callable

from sonomics.report.checklists import AUTHORS, NOT_APPLICABLE, Answer
from sonomics.study.checklists import texts as t
from sonomics.study.checklists.facts import RunFacts


def _models(f: RunFacts) -> str:
    parts = ["Clinical model (logistic regression factors, then the classifiers)"
             if f.has_clinical else "",
             "radiomics model (handcrafted features, selection chain, classifiers)",
             f"CNN ({f.models['deep'].get('label', '')}) fine-tuned on the lesion crop, "
             "2 outputs" if f.has_deep else "",
             "DLR model (handcrafted + CNN input fused, same selection and classifiers)"
             if "dlr" in f.models else "",
             "nomogram (logistic regression on the DLR score and the clinical factors)"
             if "nomogram" in f.models else ""]
    return "; ".join(p for p in parts if p) + ". Inputs: one 2D ultrasound image and its " \
        "lesion mask per case (plus clinical variables); output: probability of malignancy."


def _external(f: RunFacts) -> Answer:
    if f.has_external:
        return t.reported(f"External cases: {f.cases['external']} images of "
                          f"{f.patients['external']} patients, scored with the training "
                          "cut-offs.", "table7_all_models")
    return t.reported("No external testing in this run: all cases come from the one "
                      "manifest and were split internally; state it as a limitation.")


def _gradcam(f: RunFacts) -> Answer:
    if f.has_figure("fig3_gradcam"):
        name = sorted(x for x in f.figures if x.startswith("fig3_gradcam"))[0]
        return t.reported("Grad-CAM heat maps of representative test cases (last "
                          "convolutional block); a visual aid, not validated against the "
                          "lesion masks.", name)
    return Answer(NOT_APPLICABLE, "No CNN, so no Grad-CAM in this run.")


ANSWERS: dict[str, Callable[[RunFacts], Answer]] = {
    "1": lambda f: Answer(AUTHORS, "Name the work as deep learning radiomics (machine "
                          "learning + CNN) in the title or abstract."),
    "2": lambda f: Answer(AUTHORS, "Structured abstract; " + t.test_results(f)),
    "3": lambda f: t.from_config(f, "intended_use", "Background, intended use and the role "
                                 "of the AI"),
    "4": lambda f: Answer(AUTHORS, "Aims and hypotheses: manuscript text."),
    "5": lambda f: t.from_config(f, "study_design", "Prospective or retrospective"),
    "6": lambda f: t.reported("Model development with internal validation on a held-out "
                              "test set" + (" and external testing." if f.has_external
                                            else ".")),
    "7": lambda f: t.from_config(f, "setting", "Data sources and their fit to the intended "
                                 "use"),
    "8": lambda f: t.from_config(f, "eligibility", "Inclusion and exclusion criteria"),
    "9": lambda f: t.reported(t.preprocessing(f), "methods"),
    "10": lambda f: t.reported("One 2D image per case; handcrafted features from the lesion "
                               "mask (reader 1), the CNN from the mask's bounding box"
                               + (f" ({f.crop_margin_words})" if f.has_deep else "")
                               + "."),
    "11": lambda f: t.from_config(f, "deidentification", "De-identification"),
    "12": lambda f: t.reported(t.missing_data(f), "failures"),
    "13": lambda f: t.from_config(f, "imaging_protocol", "Scanners and acquisition "
                                  "parameters"),
    "14": lambda f: t.from_config(f, "reference_standard", "How the reference standard was "
                                  "obtained"),
    "15": lambda f: t.from_config(f, "reference_standard", "Why this reference standard"),
    "16": lambda f: t.from_config(f, "annotators", "Who drew the masks, qualifications"),
    "17": lambda f: t.from_config(f, "annotators", "How the test set was annotated (sonomics "
                                  "uses reader 1's mask for every case, training and test)"),
    "18": lambda f: t.reported(t.robustness(f), "methods"),
    "19": lambda f: t.reported(t.partition(f), "split_summary"),
    "20": lambda f: t.reported("Partitions are disjoint at the patient level (and by "
                               "near-duplicate image group).", "split_summary"),
    "21": lambda f: Answer(AUTHORS, "Test size was not calculated by sonomics (a "
                           f"{f.cfg.split.test_size:.0%} split): "
                           f"{f.cases.get('test', 0)} images, {f.malignant.get('test', 0)} "
                           "malignant; justify it in the text."),
    "22": lambda f: t.reported(_models(f), "methods"),
    "23": lambda f: t.reported("Software versions are listed under Methods in the report "
                               "(python, sonomics, numpy, pandas, scikit-learn, "
                               "pyradiomics, torch, torchvision, ...).", "methods"),
    "24": lambda f: t.reported(t.initialisation(f)),
    "25": lambda f: t.reported(t.tuning(f), "methods"),
    "26": lambda f: t.reported("Each family's final classifier: the best training CV AUC; "
                               "the CNN backbone: the best validation AUC; the test set "
                               "chose nothing.", "table7_all_models"),
    "27": lambda f: Answer(NOT_APPLICABLE, "No ensemble; the nomogram is one logistic "
                           "regression on the DLR score and clinical factors (item 22)."),
    "28": lambda f: t.reported(t.performance(f), "table7_all_models"),
    "29": lambda f: t.reported(t.performance(f), "table7_all_models"),
    "30": lambda f: t.reported(t.robustness(f) + " Selection frequency over patient "
                               "subsamples is tabulated for each feature family.",
                               "selection_stability_radiomics"),
    "31": _gradcam,
    "32": lambda f: t.reported("Held-out, patient-disjoint test set (used once) and "
                               "out-of-fold scores from patient-grouped cross-validation on "
                               "the training set.", "table7_all_models"),
    "33": _external,
    "34": lambda f: t.from_config(f, "registration", "Trial registration, if any"),
    "35": lambda f: t.reported(t.cohort(f), "failures"),
    "36": lambda f: t.reported("Characteristics of each partition in Tables 1-2.",
                               "table2_train_test"),
    "37": lambda f: t.reported(t.test_results(f), "table7_all_models"),
    "38": lambda f: t.reported("Sensitivity, specificity, PPV, NPV and accuracy at the "
                               "training cut-off, with the AUC and its CI.",
                               "table7_all_models"),
    "39": lambda f: Answer(AUTHORS, "Failure analysis is not made by sonomics; every case's "
                           "probabilities are in predictions/*.csv for it."),
    "40": lambda f: Answer(AUTHORS, "Limitations: manuscript text. " + t.limitations(f)),
    "41": lambda f: t.from_config(f, "intended_use", "Implications for practice"),
    "42": lambda f: t.from_config(f, "protocol", "Where the protocol can be read"),
    "43": lambda f: t.from_config(f, "code_sharing", "Availability of code, model and data "
                                  "(the run's bundle/ holds the trained models)"),
    "44": lambda f: t.from_config(f, "funding", "Funding and the funders' role"),
}
