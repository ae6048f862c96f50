"""The study report: one self-contained HTML file (figures embedded, opens offline).

The report is assembled from what the run directory holds — ``tables/*.csv``
and ``figures/*.png`` — in the order of the outline the study's stages declare (the
paper's): Methods summary written from
the config actually used, Tables 1-7 and Supplementary Table 1, Figures 3-8 and
the supplementary figures, the failures table and the warnings. A table or
figure the run did not produce is listed with the reason instead of silently
missing. Demo runs carry a SYNTHETIC DATA banner on every page section.
"""

from __future__ import annotations

import base64
import html
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from sonomics._version import __version__, code_digest
from sonomics.config import StudyConfig
from sonomics.io import atomic_write_text
from sonomics.rundir import RunDir


@dataclass(frozen=True)
class Item:
    """A table (``tables/<name>.csv``) or a figure (``figures/<name>.png``; may hold a ``*``)."""

    kind: str  # "table" | "figure"
    name: str
    title: str


@dataclass(frozen=True)
class Section:
    """A report section; an absence reason for its heading stands in for missing items."""

    heading: str
    items: tuple[Item, ...] = ()


def merge_sections(sections: Sequence[Section]) -> list[Section]:
    """Sections of the same heading joined, in the order the headings first appear."""
    merged: dict[str, list[Item]] = {}
    for section in sections:
        merged.setdefault(section.heading, []).extend(section.items)
    return [Section(heading, tuple(items)) for heading, items in merged.items()]


KEY_PACKAGES = ["numpy", "pandas", "scikit-learn", "pyradiomics-bhklab", "torch", "torchvision",
                "xgboost-cpu", "lightgbm", "statsmodels", "grad-cam", "SimpleITK"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(),
                "sonomics": f"{__version__} (code {code_digest()})"}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def methods_summary(cfg: StudyConfig, notes: list[str],
                    crop_margin: float | None = None) -> list[str]:
    """Plain-language Methods, written from the settings actually used (``crop_margin``:
    the one the deep stage chose, when it compared several)."""
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
        f"{dl.input_size} px, crop to the ROI bounding box ({dl.margin_words(crop_margin)}), "
        + ("the ROI mask as third input channel, " if dl.mask_channel else "")
        + f"{dl.optimizer} with cosine learning-rate decay, {dl.epochs} epochs at most"
        + (f", as many as a {dl.time_budget_min:g}-min time budget allows"
           if dl.time_budget_min else "")
        + (f" within a {dl.finish_within_min:g}-min target for the whole study"
           if dl.finish_within_min else "")
        + f", {weights}; deep features reduced by PCA to at most {dl.pca_components} components "
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
    body = frame.to_html(index=False, escape=True, border=0, classes="data")
    # a cell that is only "#anchor" (the checklists' "Shown in report") becomes a link; the
    # pattern admits no character that escaping would have changed
    body = re.sub(r"<td>#([A-Za-z0-9_\-]+)</td>", r'<td><a href="#\1">\1</a></td>', body)
    return body + _table_note(path)


def _figure_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_report(run_dir: str | Path, cfg: StudyConfig, outline: Sequence[Section],
                  notes: list[str] | None = None,
                  absent_reasons: dict[str, str] | None = None) -> Path:
    """Write ``run_dir/report.html`` from the run's tables and figures; return its path.

    ``outline`` lists the sections in report order; ``absent_reasons`` maps a section
    heading (or an item name) to why it is empty.
    """
    run_dir = Path(run_dir)
    notes = notes or []
    absent_reasons = absent_reasons or {}
    sections = []
    for section in merge_sections(outline):
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
                                     "kind": item.kind, "anchor": path.stem})
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
        methods=methods_summary(cfg, notes, (RunDir(run_dir).meta("deep") or {})
                                .get("crop_margin")), versions=package_versions(),
        notes=notes)
    return atomic_write_text(run_dir / "report.html", page)
