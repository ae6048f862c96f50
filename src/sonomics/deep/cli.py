"""``sonomics deep CONFIG --out DIR [--profile quick|paper]``: the deep-learning stage alone.

Trains and evaluates the configured backbone(s) on the config's cohort, writes Table 5 to
``DIR/tables/``, the deep-features table, the training curves and the Grad-CAM figure to
``DIR/figures/`` (see :mod:`sonomics.deep.pipeline`). Mount on the main CLI with
``main_app.add_typer(sonomics.deep.cli.app)`` (no name: the ``deep`` command is added
directly).
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help="Deep learning: CNN transfer learning, deep features, Grad-CAM.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def load_cases(cfg):
    """The case table for ``cfg`` (a seam so tests can supply a synthetic cohort)."""
    from sonomics.deep.pipeline import cases_from_cohort

    return cases_from_cohort(cfg)


@app.command("deep")
def deep_command(
    config: Path = typer.Argument(..., exists=True, dir_okay=False,
                                  help="study config YAML"),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="output folder (default: the config's out)"),
    profile: str | None = typer.Option(None, "--profile",
                                       help="hardware profile: quick (CPU, demo) or paper"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bars"),
) -> None:
    """Train the CNN backbone(s); write Table 5, deep features, training curves, Grad-CAM."""
    from sonomics.config import ConfigError, StudyConfig, apply_profile
    from sonomics.deep.pipeline import run_deep

    console = Console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = StudyConfig.load(config)
        chosen_profile = profile or cfg.deep.profile
        cfg = apply_profile(cfg, chosen_profile)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out_dir = out or cfg.out
    try:
        cases = load_cases(cfg)
        result = run_deep(cases, cfg, out_dir, progress=progress)
    except (ValueError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if result.random_init:
        console.print("[bold yellow]warning:[/bold yellow] backbones trained from RANDOM "
                      "initialisation (no ImageNet weights found): not transfer learning")
    console.print(f"Table 5 -> {Path(out_dir) / 'tables' / 'table5_deep.md'}")
    console.print(f"chosen backbone (validation AUC): {result.chosen} "
                  f"({result.val_auc[result.chosen]:.3f})")
    for name, path in result.figures.items():
        console.print(f"{name} -> {path}")
    typer.echo(result.table5.to_string(index=False))
