"""``sonomics extract``: handcrafted radiomics of a cohort, on its own.

A typer sub-app; the main CLI mounts it. ``extract CONFIG`` reads the study
config, loads the cohort, extracts every case (parallel, cached, resumable),
computes the reproducibility ICC and writes features, diagnostics, failures and
the ICC table into the run directory.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Handcrafted radiomics extraction (pyradiomics), cached and parallel.",
                  no_args_is_help=True)


@app.callback()
def radiomics() -> None:
    """Handcrafted radiomics extraction (pyradiomics), cached and parallel."""


@app.command("extract")
def extract(
    config: Path = typer.Argument(..., help="study config YAML"),
    out: Path | None = typer.Option(None, "--out", help="run directory (default: config 'out')"),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address tcp://HOST:PORT (scale-out)"),
    workers: int | None = typer.Option(
        None, "--workers", min=0, help="worker processes (0 = all cores; default: config)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show progress bar"),
) -> None:
    """Extract radiomic features of every case and the reproducibility ICC table."""
    from sonomics.config import ConfigError, StudyConfig
    from sonomics.data.manifest import CohortError
    from sonomics.radiomics.cohort import extract_cohort
    from sonomics.radiomics.params import RadiomicsParamsError

    try:
        cfg = StudyConfig.load(config)
        done = extract_cohort(cfg, out, scheduler=scheduler, workers=workers, progress=progress)
    except (ConfigError, CohortError, RadiomicsParamsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    res = done.result
    n_cases = res.features.index.get_level_values("case_id").nunique() if len(res.features) else 0
    typer.echo(f"{n_cases} cases, {res.features.shape[1]} features "
               f"({res.n_cached} ratings from cache, {res.n_computed} computed, "
               f"{len(res.failures)} failed)")
    if not done.icc.empty:
        typer.echo(f"{done.icc['kind'].iloc[0]} ({done.icc['form'].iloc[0]}): "
                   f"{int(done.icc['keep'].sum())} of {len(done.icc)} features kept")
    for name, path in done.written.items():
        typer.echo(f"  {name}: {path}")
