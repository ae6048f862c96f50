"""The `sonomics` command line (typer)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="sonomics",
    help="Deep-learning-radiomics nomograms for 2D ultrasound (after Wang et al. 2024).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
