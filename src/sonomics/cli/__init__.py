"""The ``sonomics`` command line.

Typical use::

    sonomics datasets convert bus-bra /data/BUS-BRA cohort/      # or write your own manifest
    sonomics init study/ --manifest cohort/manifest.csv           # commented config
    sonomics validate study/config.yaml                           # every problem, one table
    sonomics run study/config.yaml                                # the whole study
    sonomics demo                                                 # all of it on synthetic data

Every command reports a problem as one line and exit code 1 (``--debug``: the traceback).
"""

from __future__ import annotations

import warnings

import typer

from sonomics._version import __version__, code_digest
from sonomics.cli import setup as _setup  # noqa: F401  (registers init, validate, datasets)
from sonomics.cli import study as _study  # noqa: F401  (registers run, extract, deep, ...)
from sonomics.cli.common import app, console, datasets_app
from sonomics.cli.serve import serve
from sonomics.cli.stats import app as stats_app
from sonomics.errors import DEBUG

app.command()(serve)  # registered here, after the study commands: listed after them
app.add_typer(datasets_app, name="datasets")
app.add_typer(stats_app, name="stats")

__all__ = ["app"]


def _version(value: bool) -> None:
    if value:
        console.print(f"sonomics {__version__} (code {code_digest()})")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit."),
         debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an "
                                    "error instead of one line.")) -> None:
    """Deep-learning-radiomics nomograms for 2D ultrasound."""
    DEBUG["on"] = debug
    # the log already says it once per backbone; the Python warning would say it again
    warnings.filterwarnings("ignore", message=".*RANDOM initialisation.*")
