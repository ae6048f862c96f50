"""The typer apps, consoles and config loading every ``sonomics`` command shares."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from sonomics.config import StudyConfig, apply_profile
from sonomics.errors import err_console

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

console = Console()
__all__ = ["app", "console", "datasets_app", "err_console", "load_config"]


def load_config(path: Path, out: Path | None = None, profile: str | None = None
                ) -> StudyConfig:
    """The study config at ``path``, with ``--out`` and ``--profile`` applied over it.

    Raises :class:`~sonomics.config.ConfigError` (reported as one line) when invalid.
    """
    cfg = StudyConfig.load(path)
    if profile is not None:
        cfg = apply_profile(cfg, profile)
    if out is not None:
        cfg.out = out.resolve()
    return cfg
