"""The study report: one self-contained HTML file (figures embedded, opens offline).

The report is assembled from what the run directory holds — ``tables/*.csv``
and ``figures/*.png`` — in the order of the paper: Methods summary written from
the config actually used, Tables 1-7 and Supplementary Table 1, Figures 3-8 and
the supplementary figures, the failures table and the warnings. A table or
figure the run did not produce is listed with the reason instead of silently
missing. Demo runs carry a SYNTHETIC DATA banner on every page section.
"""

from __future__ import annotations

import base64
import html
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from sonomics import __version__
from sonomics.config import StudyConfig
from sonomics.io import atomic_write_text


@dataclass(frozen=True)
class Item:
    """A table (``tables/<name>.csv``) or a figure (``figures/<name>.png``) of the report."""

    kind: str  # "table" | "figure"
    name: str
    title: str


@dataclass
class Section:
    heading: str
    items: list[Item] = field(default_factory=list)
    text: str = ""


#: the report's outline, in the paper's order; names are the files stages write
OUTLINE: list[Section] = [
    Section("Cohort", [
        Item("table", "table1_distribution", "Table 1. Distribution of lesions by class and "
                                             "subtype"),
        Item("table", "split_summary", "Train/test split"),
        Item("table", "table2_train_test", "Table 2. Clinical and ultrasound characteristics, "
                                           "training vs testing set"),
        Item("table", "table2_benign_malignant", "Table 2b. Characteristics, benign vs "
                                                 "malignant"),
    ]),
    Section("Clinical model", [
        Item("table", "supp_table1_clinical_lr", "Supplementary Table 1. Univariable and "
                                                 "multivariable logistic regression"),
        Item("table", "table3_clinical_models", "Table 3. Performance of the clinical models"),
        Item("figure", "roc_clinical", "Supplementary Figure 1. ROC curves of the clinical "
                                       "models"),
    ]),
    Section("Radiomics model", [
        Item("table", "radiomics_failures", "Cases whose feature extraction failed"),
        Item("figure", "lasso_radiomics", "Supplementary Figure 3A. LASSO coefficient paths, "
                                          "handcrafted features"),
        Item("figure", "lasso_radiomics_cv", "Supplementary Figure 3B. LASSO cross-validation "
                                             "error"),
        Item("figure", "lasso_radiomics_coefficients", "Supplementary Figure 3C. Selected "
                                                       "handcrafted features"),
        Item("table", "table4_radiomics_models", "Table 4. Performance of the radiomics models"),
        Item("figure", "roc_radiomics", "Supplementary Figure 4. ROC curves of the radiomics "
                                        "models"),
    ]),
    Section("Deep learning models", [
        Item("table", "table5_deep", "Table 5. Performance of the deep learning models"),
        Item("figure", "training_curve_*", "Supplementary Figure 5. Training curves"),
        Item("figure", "fig3_gradcam_*", "Figure 3. Grad-CAM of representative test cases "
                                         "(TP, TN, FP, FN)"),
    ]),
    Section("Deep learning radiomics (fusion)", [
        Item("figure", "lasso_fusion", "Figure 4A. LASSO coefficient paths, fused features"),
        Item("figure", "lasso_fusion_cv", "Figure 4B. LASSO cross-validation error"),
        Item("figure", "lasso_fusion_coefficients", "Figure 5. Selected fused features and "
                                                    "their coefficients"),
        Item("table", "table6_dlr_models", "Table 6. Performance of the DLR models"),
        Item("figure", "roc_dlr", "ROC curves of the DLR models, testing set"),
    ]),
    Section("Nomogram", [
        Item("figure", "nomogram", "Figure 6. Nomogram (DLRN)"),
        Item("table", "nomogram_coefficients", "Nomogram coefficients"),
        Item("table", "nomogram_points", "Nomogram points per predictor value"),
    ]),
    Section("Comparison of all models", [
        Item("table", "table7_all_models", "Table 7. Performance of all models"),
        Item("figure", "roc_all_train", "Figure 7A. ROC curves, training set"),
        Item("figure", "roc_all_test", "Figure 7B. ROC curves, testing set"),
        Item("figure", "dca_train", "Figure 8A. Decision curves, training set"),
        Item("figure", "dca_test", "Figure 8B. Decision curves, testing set"),
        Item("figure", "delong_train", "Supplementary Figure 7A. DeLong test p-values, "
                                       "training set"),
        Item("figure", "delong_test", "Supplementary Figure 7B. DeLong test p-values, testing "
                                      "set"),
        Item("figure", "calibration_train", "Supplementary Figure 8A. Calibration, training "
                                            "set"),
        Item("figure", "calibration_test", "Supplementary Figure 8B. Calibration, testing set"),
        Item("table", "hosmer_lemeshow", "Hosmer-Lemeshow tests"),
        Item("table", "delong_train", "DeLong test p-values, training set"),
        Item("table", "delong_test", "DeLong test p-values, testing set"),
    ]),
    Section("Comparator models", [
        Item("table", "table8_comparators", "Table 8. BI-RADS and shape-only comparator "
                                            "models"),
        Item("table", "delong_comparators", "DeLong tests against the comparators, testing "
                                            "set"),
        Item("figure", "roc_comparators_test", "ROC curves with the comparators, testing set"),
    ]),
    Section("Problems", [
        Item("table", "failures", "Cases that failed a stage (excluded)"),
        Item("table", "validation", "Cohort validation (errors exclude a case; warnings do "
                                    "not)"),
    ]),
]

KEY_PACKAGES = ["numpy", "pandas", "scikit-learn", "pyradiomics-bhklab", "torch", "torchvision",
                "xgboost-cpu", "lightgbm", "statsmodels", "grad-cam", "SimpleITK"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "sonomics": __version__}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def methods_summary(cfg: StudyConfig, notes: list[str]) -> list[str]:
    """Plain-language Methods, written from the settings actually used."""
    d, r, s, m, dl = cfg.data, cfg.radiomics, cfg.selection, cfg.models, cfg.deep
    binning = (f"a fixed bin count of {r.bin_count}" if r.bin_count
               else f"a fixed bin width of {r.bin_width:g}")
    weights = ("ImageNet weights from " + ", ".join(f"{k}: {v}" for k, v in dl.weights.items())
               if dl.weights else "ImageNet weights when found in the torchvision cache, "
               "otherwise random initialisation (see warnings)")
    return [
        f"Cohort: manifest {d.manifest}; patients were split {1 - cfg.split.test_size:.0%}:"
        f"{cfg.split.test_size:.0%} into training and testing sets, stratified by class and "
        f"grouped by patient (seed {cfg.split.seed}).",
        f"Handcrafted radiomics: pyradiomics on 2D images with {binning}; LoG sigma "
        f"{'in pixels' if r.sigma_in_pixels else 'in mm'}; features with {r.icc_form} ≥ "
        f"{r.icc_threshold:g} between readers were kept.",
        f"Feature selection (training set only): z-score, {s.univariate_test} test p < "
        f"{s.p_threshold:g}, Pearson |r| > {s.corr_threshold:g} pruning, greedy elimination "
        f"(at most {s.greedy_max_features} features), LASSO with {s.lasso_folds}-fold CV.",
        f"Classifiers: {', '.join(m.classifiers)}, tuned by {m.cv_folds}-fold stratified grid "
        "search on the training set (AUC); the best of each family was chosen by training "
        "cross-validated AUC.",
        f"Deep learning: {', '.join(dl.backbones)} ({dl.profile} profile), input "
        f"{dl.input_size} px, crop to the ROI bounding box (margin {dl.crop_margin:g}), "
        f"{dl.optimizer} with cosine learning-rate decay, {dl.epochs} epochs at most, "
        f"{weights}; deep features reduced by PCA to at most {dl.pca_components} components "
        "fitted on the training set.",
        "Evaluation: AUC with DeLong 95% CI; accuracy, sensitivity, specificity, PPV and NPV "
        "at the Youden cut-off chosen on the training set and applied unchanged to the test "
        "set; paired DeLong tests; calibration with Hosmer-Lemeshow (g = 10); decision "
        f"curves. Global seed {cfg.seed}.",
        *notes,
    ]


def _display(cell: str) -> str:
    """A table cell as a reader wants it: decimals to 3 places, tiny values in e-notation.

    Only cells that are decimal numbers change; ids and counts ("001", "12") and text
    ("0.861 - 0.910", "not computable") are shown as written.
    """
    try:
        value = float(cell)
    except ValueError:
        return cell
    if not any(c in cell for c in ".eE") or value != value or abs(value) == float("inf"):
        return cell
    return f"{value:.3f}" if value == 0 or abs(value) >= 0.001 else f"{value:.1e}"


def _table_note(path: Path) -> str:
    """The note under the table in its markdown twin (what the CSV cannot hold)."""
    md = path.with_suffix(".md")
    if not md.exists():
        return ""
    lines = md.read_text().splitlines()
    last_row = max((i for i, line in enumerate(lines) if line.startswith("|")), default=-1)
    note = " ".join(line.strip() for line in lines[last_row + 1:] if line.strip())
    return f"<p class='note'>{html.escape(note)}</p>" if note else ""


def _table_html(path: Path) -> str:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if frame.empty:
        return "<p class='muted'>(empty: nothing to report)</p>"
    frame = frame.map(_display)
    return frame.to_html(index=False, escape=True, border=0, classes="data") + _table_note(path)


def _figure_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_report(run_dir: str | Path, cfg: StudyConfig, notes: list[str] | None = None,
                  absent_reasons: dict[str, str] | None = None) -> Path:
    """Write ``run_dir/report.html`` from the run's tables and figures; return its path."""
    run_dir = Path(run_dir)
    notes = notes or []
    absent_reasons = absent_reasons or {}
    sections = []
    for section in OUTLINE:
        rendered = []
        for item in section.items:
            folder, suffix = (("tables", "csv") if item.kind == "table" else ("figures", "png"))
            paths = sorted((run_dir / folder).glob(f"{item.name}.{suffix}"))
            if paths:
                for path in paths:
                    title = item.title
                    if "*" in item.name:
                        title += f" — {path.stem.split('_')[-1]}"
                    body = (_table_html(path) if item.kind == "table"
                            else f"<img alt='{html.escape(title)}' src='{_figure_uri(path)}'>")
                    rendered.append({"title": title, "body": body, "present": True,
                                     "kind": item.kind})
            else:
                reason = absent_reasons.get(item.name) or absent_reasons.get(section.heading)
                if reason:
                    rendered.append({"title": item.title, "present": False, "kind": item.kind,
                                     "body": html.escape(reason)})
        if rendered:
            sections.append({"heading": section.heading, "items": rendered})
    env = Environment(loader=PackageLoader("sonomics", "resources"),
                      autoescape=select_autoescape(["html", "j2"]))
    page = env.get_template("report.html.j2").render(
        title=cfg.name, synthetic=cfg.data.synthetic, sections=sections,
        methods=methods_summary(cfg, notes), versions=package_versions(),
        notes=notes)
    return atomic_write_text(run_dir / "report.html", page)
