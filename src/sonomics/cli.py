"""The `sonomics` command line.

Typical use::

    sonomics datasets convert bus-bra /data/BUS-BRA cohort/      # or write your own manifest
    sonomics init study/ --manifest cohort/manifest.csv           # commented config
    sonomics validate study/config.yaml                           # every problem, one table
    sonomics run study/config.yaml                                # the whole study
    sonomics demo                                                 # all of it on synthetic data
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from sonomics import __version__
from sonomics.config import ConfigError, StudyConfig, config_template
from sonomics.deep.cli import deep_command
from sonomics.evaluation.cli import app as stats_app
from sonomics.radiomics.cli import extract as extract_command

app = typer.Typer(
    name="sonomics",
    help="Deep-learning-radiomics nomograms for 2D ultrasound: handcrafted radiomics + CNN "
         "features, fused, selected, classified and combined with clinical factors "
         "(after Wang et al. 2024, Front. Oncol. 14:1384105).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="Public dataset adapters: write a manifest for a known dataset.",
                           no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(stats_app, name="stats")
app.command("extract")(extract_command)
app.command("deep")(deep_command)

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error (no traceback) and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    return typer.Exit(code)


def load_config(path: Path, out: Path | None = None) -> StudyConfig:
    try:
        cfg = StudyConfig.load(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if out is not None:
        cfg.out = out.resolve()
    return cfg


def version_callback(value: bool) -> None:
    if value:
        console.print(f"sonomics {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=version_callback,
                                      is_eager=True, help="Print the version and exit.")) -> None:
    """Deep-learning-radiomics nomograms for 2D ultrasound."""


# ------------------------------------------------------------------ init
STRUCTURAL = {"case_id", "patient_id", "image", "mask", "mask_reader2", "label", "split",
              "subtype", "spacing_mm"}
#: columns that are not predictors by default: a radiologist's verdict, acquisition details
NOT_PREDICTORS = {"birads", "bi-rads", "bi_rads", "device", "side", "verification", "fold5",
                  "fold", "kfold", "histology", "diagnosis"}


def infer_clinical_columns(manifest: Path) -> tuple[list[str], list[str], list[str]]:
    """(continuous, categorical, left out) columns of a manifest, guessed from its values."""
    from sonomics.data.manifest import is_missing, read_table

    frame = read_table(manifest)
    continuous, categorical, left_out = [], [], []
    for col in frame.columns:
        if col in STRUCTURAL:
            continue
        if col.lower() in NOT_PREDICTORS:
            left_out.append(col)
            continue
        values = [v for v in frame[col] if not is_missing(v)]
        numeric = sum(_is_number(v) for v in values)
        levels = len(set(values))
        if values and numeric / len(values) >= 0.95 and levels > 10:
            continuous.append(col)
        elif 2 <= levels <= 20:
            categorical.append(col)
        else:
            left_out.append(col)
    return continuous, categorical, left_out


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Folder to write config.yaml into."),
    manifest: Path | None = typer.Option(None, "--manifest", "-m",
                                         help="Cohort manifest (CSV/XLSX); its clinical "
                                              "columns are detected and declared."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing config.yaml."),
) -> None:
    """Write a commented config template (every key, the paper's defaults).

    With --manifest the config points at it and declares its clinical columns
    (numeric columns with many values as continuous, the others as categorical;
    BI-RADS, device and similar columns are left out as non-predictors), so
    `datasets convert` -> `init --manifest` -> `run` needs no editing.
    """
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "config.yaml"
    if target.exists() and not force:
        raise fail(f"{target} exists; use --force to overwrite it")
    rel_manifest = None
    text_extra = ""
    if manifest is not None:
        if not manifest.is_file():
            raise fail(f"manifest not found: {manifest}")
        rel_manifest = Path(os.path.relpath(manifest.resolve(), directory.resolve()))
        continuous, categorical, left_out = infer_clinical_columns(manifest)
        columns = set(_manifest_columns(manifest))
        overrides = {"continuous": continuous, "categorical": categorical,
                     "subtype": "subtype" if "subtype" in columns else None,
                     "spacing": "spacing_mm" if "spacing_mm" in columns else None}
        text_extra = (f"# Detected in {manifest.name}: continuous {continuous}, categorical "
                      f"{categorical}; left out (not predictors): {left_out}\n")
    text = config_template(rel_manifest, Path("runs/study"))
    if manifest is not None:
        cfg = yaml.safe_load(text)
        for key, value in overrides.items():
            if value is not None or key in ("continuous", "categorical"):
                cfg["data"][key] = value
        StudyConfig.from_dict(cfg)  # the written file must validate
        text = _reannotate(text, cfg)
    target.write_text(text_extra + text, encoding="utf-8")
    console.print(f"wrote {target}")


def _manifest_columns(manifest: Path) -> list[str]:
    from sonomics.data.manifest import read_table

    return list(read_table(manifest).columns)


def _reannotate(template: str, cfg: dict) -> str:
    """Put the detected data values into the commented template, keeping its comments."""
    import yaml

    lines = template.splitlines()
    out, section = [], None
    for line in lines:
        if line and not line.startswith((" ", "#")):
            section = line.split(":")[0]
        if section == "data" and line.startswith("  ") and ":" in line:
            key = line.strip().split(":")[0]
            if key in cfg["data"]:
                comment = line[line.index("  #"):] if "  #" in line else ""
                value = yaml.safe_dump({key: cfg["data"][key]}, default_flow_style=True,
                                       width=10_000).strip()[1:-1]
                line = f"  {value}{comment}"
        out.append(line)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ validate
@app.command()
def validate(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Also write tables/validation.csv here."),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Check the whole cohort and print every problem in one table.

    Never stops at the first problem. Each row names the case and the field.
    Exit code 1 when there are errors; warnings alone do not fail.
    """
    from sonomics.data.manifest import CohortError, load_cohort
    from sonomics.data.validation import validate_cohort

    cfg = load_config(config, out)
    try:
        cohort = load_cohort(cfg)
    except CohortError as exc:
        raise fail(str(exc)) from None
    with _progress("Checking images and masks", len(cohort.table)) as advance:
        validate_cohort(cohort, progress=advance)
    frame = cohort.problems_frame()
    if out is not None:
        from sonomics.io import write_table

        write_table(frame, out / "tables", "validation", title="Cohort validation")
    if as_json:
        print(json.dumps({"cases": len(cohort.table), "errors": len(cohort.errors),
                          "warnings": len(cohort.warnings),
                          "problems": frame.to_dict(orient="records")}, indent=2))
    else:
        _print_problems(cohort)
    if cohort.errors:
        raise typer.Exit(1)


def _print_problems(cohort) -> None:
    n = len(cohort.table)
    labels = cohort.table["label"].dropna().astype(int)
    console.print(f"{n} cases ({int((labels == 0).sum())} benign, {int((labels == 1).sum())} "
                  f"malignant), {cohort.table['patient_id'].nunique()} patients")
    if not cohort.problems:
        console.print("[green]no problems found[/green]")
        return
    table = Table(title="Cohort problems", show_lines=False)
    for col in ("case", "field", "severity", "problem"):
        table.add_column(col, overflow="fold")
    for p in cohort.problems:
        style = "red" if p.severity == "error" else "yellow"
        table.add_row(p.case_id, p.field, f"[{style}]{p.severity}[/{style}]", p.message)
    console.print(table)
    console.print(f"{len(cohort.errors)} error(s) in {len(cohort.excluded_cases())} case(s), "
                  f"{len(cohort.warnings)} warning(s)")


class _progress:
    """A rich progress bar as a context manager yielding an ``advance(done, total)`` callback."""

    def __init__(self, description: str, total: int) -> None:
        from sonomics.progress import progress_bar

        self.progress = progress_bar(enabled=err_console.is_terminal, console=err_console,
                                     transient=True)
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self):
        self.progress.start()
        return lambda done, total: self.progress.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        self.progress.stop()


# ------------------------------------------------------------------ datasets
@datasets_app.command("convert")
def datasets_convert(
    name: str = typer.Argument(..., help="breast-lesions-usg | bus-bra | busi"),
    src: Path = typer.Argument(..., help="The dataset's folder, in its published layout."),
    out: Path = typer.Argument(..., help="Folder (or .csv path) for the manifest."),
) -> None:
    """Write a manifest for a public dataset (images stay where they are)."""
    from sonomics.data.adapters import AdapterError, convert_dataset

    try:
        path, frame = convert_dataset(name, src, out)
    except AdapterError as exc:
        raise fail(str(exc)) from None
    counts = frame["label"].value_counts().to_dict()
    console.print(f"wrote {path}: {len(frame)} cases "
                  f"({counts.get('benign', 0)} benign, {counts.get('malignant', 0)} malignant), "
                  f"{frame['patient_id'].nunique()} patients")
    console.print(f"next: sonomics init STUDY_DIR --manifest {path}")


@datasets_app.command("list")
def datasets_list() -> None:
    """List the datasets an adapter exists for."""
    from sonomics.data import adapters

    for name, fn in adapters.ADAPTERS.items():
        console.print(f"[bold]{name}[/bold]: {fn.__doc__.strip().splitlines()[0]}")


# ------------------------------------------------------------------ run / demo
@app.command()
def run(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: config 'out')."),
    profile: str | None = typer.Option(
        None, "--profile", help="Deep-learning hardware profile applied over the config: "
        "quick (one CNN, 128 px, few epochs: CPU) or paper (three CNNs, 224 px: GPU)."),
) -> None:
    """Run the whole study: validate -> split -> Tables 1-2 -> clinical model -> radiomics + ICC
    -> radiomics models -> CNN training -> deep features -> fusion (DLR) -> nomogram (DLRN)
    -> evaluation -> report.html -> prediction bundle.

    Stage by stage it is resumable: a finished stage whose inputs and settings are
    unchanged is not recomputed; a changed setting recomputes exactly the stages
    downstream of it. Results: RUN/report.html, RUN/tables/*.csv, RUN/figures/*.png,
    RUN/bundle/ (for `sonomics predict`).
    """
    from sonomics.config import apply_profile

    cfg = load_config(config, out)
    if profile is not None:
        try:
            cfg = apply_profile(cfg, profile)
        except ConfigError as exc:
            raise fail(str(exc)) from None
    _run_study(cfg)


@app.command()
def cv(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    folds: str = typer.Option(..., "--folds", help="Manifest column holding the fold of each "
                              "case (BUS-BRA: fold5, from `datasets convert`)."),
    only: list[str] = typer.Option([], "--only", help="Run only these fold values "
                                   "(repeatable); the summary covers the folds run."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: config 'out'); "
                                    "folds go to OUT/cv/fold-<k>."),
    profile: str | None = typer.Option(None, "--profile", help="Deep-learning profile, as in "
                                       "`sonomics run`."),
) -> None:
    """Cross-validated evaluation over a predefined partition (mean ± SD test AUC over folds).

    Each fold is a whole, independent study: that fold is the test set, the others the
    training set, and every fitted step learns from the training folds only. Folds resume
    like `sonomics run`; handcrafted features are extracted once and shared. Summary:
    OUT/cv/tables/cv_auc.csv (per-fold AUC of every model, mean, SD).

    Example: sonomics cv examples/bus-bra.yaml --folds fold5
    """
    from sonomics.config import apply_profile
    from sonomics.crossval import run_cross_validation
    from sonomics.data.manifest import CohortError
    from sonomics.data.splits import SplitError

    cfg = load_config(config, out)
    try:
        if profile is not None:
            cfg = apply_profile(cfg, profile)
        result = run_cross_validation(cfg, folds, console=err_console, folds=only or None)
    except (CohortError, SplitError, ConfigError) as exc:
        raise fail(str(exc)) from None
    console.print(result.summary.to_string(index=False))
    console.print(f"results: {result.out}")


@app.command()
def predict(
    bundle: Path = typer.Argument(..., help="The bundle folder of a finished run (RUN/bundle)."),
    manifest: Path = typer.Argument(..., help="Manifest of the new cases (labels optional)."),
    out: Path = typer.Option(Path("predictions"), "--out", help="Output folder."),
    gradcam: bool = typer.Option(True, "--gradcam/--no-gradcam",
                                 help="Write a Grad-CAM overlay per case."),
) -> None:
    """Score new patients with a finished study's bundle.

    For each case: the probability of every model, the class at the cut-off chosen on
    the TRAINING set, the nomogram's points per factor, total points and risk, and a
    Grad-CAM overlay. A problem with one case is reported on its row; the others are
    scored. The bundle is verified first (integrity hashes, version) and loading it
    executes no code from it.
    """
    from sonomics.bundle import BundleError
    from sonomics.data.manifest import CohortError
    from sonomics.predict import predict as run_predict

    try:
        path, result = run_predict(bundle, manifest, out, gradcam=gradcam)
    except (BundleError, CohortError, ConfigError) as exc:
        raise fail(str(exc)) from None
    bad = result[result["error"] != ""]
    for cid, row in bad.iterrows():
        err_console.print(f"[red]case {cid}:[/red] {row['error']}", highlight=False)
    console.print(f"{len(result) - len(bad)} of {len(result)} cases scored -> {path}")
    if len(bad) == len(result):
        raise typer.Exit(1)


def _run_study(cfg: StudyConfig) -> Path:
    from sonomics.data.manifest import CohortError
    from sonomics.data.splits import SplitError
    from sonomics.study import Study

    try:
        path = Study(cfg, console=err_console).run()
    except (CohortError, SplitError, ConfigError) as exc:
        raise fail(str(exc)) from None
    console.print(f"results: {path}")
    return path


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Run directory."),
    seed: int = typer.Option(2024, help="Seed of the synthetic cohort."),
    n_benign: int = typer.Option(427, help="Benign patients (paper: 427)."),
    n_malignant: int = typer.Option(99, help="Malignant patients (paper: 99)."),
    clinical_effect: float = typer.Option(1.0, help="Strength of the clinical signal, 0-1.5."),
    image_effect: float = typer.Option(1.0, help="Strength of the class texture signal, 0-1.5."),
) -> None:
    """Generate the SYNTHETIC parotid-like demo cohort and run the study on it.

    The cohort mirrors the paper's Tables 1-2 (526 patients, 427 benign / 99
    malignant); every output says SYNTHETIC.
    """
    import yaml

    from sonomics.data.demo import DemoSettings, demo_config_dict, generate_demo_cohort

    try:
        settings = DemoSettings(seed=seed, n_benign=n_benign, n_malignant=n_malignant,
                                clinical_effect=clinical_effect, image_effect=image_effect)
    except ValueError as exc:
        raise fail(str(exc)) from None
    out = out.resolve()
    err_console.print(f"[bold]SYNTHETIC[/bold] demo cohort → {out / 'cohort'}")
    manifest = generate_demo_cohort(out / "cohort", settings)
    raw = demo_config_dict(manifest, out)
    cfg = StudyConfig.from_dict(raw)
    (out / "demo-config.yaml").write_text(
        "# SYNTHETIC demo study (sonomics demo)\n" + yaml.safe_dump(raw, sort_keys=False))
    _run_study(cfg)
