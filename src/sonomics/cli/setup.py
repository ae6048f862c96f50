"""``sonomics init``, ``validate`` and ``datasets``: from a dataset to a checked cohort."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.table import Table

from sonomics.cli.common import app, console, datasets_app, err_console, load_config
from sonomics.config import StudyConfig
from sonomics.config_template import config_template
from sonomics.errors import fail, reporting_errors
from sonomics.io import is_number
from sonomics.progress import progress_callback

# ------------------------------------------------------------------ init
STRUCTURAL = {"case_id", "patient_id", "image", "mask", "mask_reader2", "label", "split",
              "subtype", "spacing_mm", "site", "source_site", "source_case_id",
              "source_patient_id"}
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
        numeric = sum(is_number(v) for v in values)
        levels = len(set(values))
        if values and numeric / len(values) >= 0.95 and levels > 10:
            continuous.append(col)
        elif 2 <= levels <= 20:
            categorical.append(col)
        else:
            left_out.append(col)
    return continuous, categorical, left_out


@app.command()
@reporting_errors
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
@reporting_errors
def validate(
    config: Path = typer.Argument(..., help="Study config (YAML)."),
    out: Path | None = typer.Option(None, "--out", help="Also write tables/validation.csv here."),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Check the whole cohort and print every problem in one table.

    Never stops at the first problem. Each row names the case and the field.
    Exit code 1 when there are errors; warnings alone do not fail.
    """
    from sonomics.data.manifest import load_cohort
    from sonomics.data.validation import validate_cohort

    cfg = load_config(config, out)
    cohort = load_cohort(cfg)
    with progress_callback("Checking images and masks", len(cohort.table),
                           console=err_console, transient=True) as advance:
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


# ------------------------------------------------------------------ datasets
@datasets_app.command("convert")
@reporting_errors
def datasets_convert(
    name: str = typer.Argument(..., help="breast-lesions-usg | bus-bra | busi"),
    src: Path = typer.Argument(..., help="The dataset's folder, in its published layout."),
    out: Path = typer.Argument(..., help="Folder (or .csv path) for the manifest."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing manifest."),
) -> None:
    """Write a manifest for a public dataset (images stay where they are).

    An existing manifest (which may hold your edits) is kept unless --force.
    """
    from sonomics.data.adapters import convert_dataset

    path, frame = convert_dataset(name, src, out, force=force)
    counts = frame["label"].value_counts().to_dict()
    console.print(f"wrote {path}: {len(frame)} cases "
                  f"({counts.get('benign', 0)} benign, {counts.get('malignant', 0)} malignant), "
                  f"{frame['patient_id'].nunique()} patients")
    console.print(f"next: sonomics init STUDY_DIR --manifest {path}")


@datasets_app.command("merge")
@reporting_errors
def datasets_merge(
    manifests: list[Path] = typer.Argument(..., help="Two or more manifests (CSV/XLSX)."),
    site: list[str] = typer.Option(..., "--site", help="Name of each manifest's site, in "
                                   "the same order (repeat: --site BUSBRA --site BrEaST)."),
    out: Path = typer.Option(..., "--out", help="Folder (or .csv path) for the manifest."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing manifest."),
) -> None:
    """Merge cohorts from several centres into one manifest with a `site` column.

    Case and patient ids become SITE-ID (unique, and stable whatever else is merged);
    relative paths are rewritten to stay valid from the new folder. Then name a site
    external in the config (`split: {external_sites: [BrEaST]}`) to train on the others
    and validate on it, and set `harmonisation.enabled: true` for ComBat by site.

    Example: sonomics datasets merge runs/bus-bra/manifest.csv runs/breast/manifest.csv
    --site BUSBRA --site BrEaST --out runs/merged
    """
    from sonomics.data.merge import merge_manifests

    result = merge_manifests(manifests, site, out, force=force)
    counts = result.frame.groupby("site")["label"].value_counts().unstack(fill_value=0)
    for name, row in counts.iterrows():
        console.print(f"  {name}: {int(row.sum())} cases ({int(row.get('benign', 0))} benign, "
                      f"{int(row.get('malignant', 0))} malignant)")
    for col, lacking in result.partial_columns.items():
        err_console.print(f"[yellow]column {col!r} is absent from site(s) "
                          f"{', '.join(lacking)}: empty there[/yellow]", highlight=False)
    console.print(f"wrote {result.path}: {len(result.frame)} cases from {len(site)} sites")


@datasets_app.command("list")
def datasets_list() -> None:
    """List the datasets an adapter exists for."""
    from sonomics.data import adapters

    for name, fn in adapters.ADAPTERS.items():
        console.print(f"[bold]{name}[/bold]: {fn.__doc__.strip().splitlines()[0]}")


