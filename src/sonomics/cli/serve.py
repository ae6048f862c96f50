"""``sonomics serve``: a finished study's bundle as a local web page and JSON API."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from sonomics.cli.common import console, err_console
from sonomics.errors import reporting_errors

LOCAL_HOSTS = {"localhost"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@reporting_errors
def serve(
    bundle: Path = typer.Argument(..., help="The bundle folder of a finished run (RUN/bundle)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on. The default "
                             "accepts this machine only; anything else exposes the page "
                             "(no login, no encryption) to the network."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port."),
    keep: Path | None = typer.Option(
        None, "--keep", help="Folder that keeps a copy of every scored case's files (image, "
        "ROI, factors). Default: nothing about a patient is kept after the response."),
    max_upload_mb: float = typer.Option(32, "--max-upload-mb", min=0.01,
                                        help="Largest request accepted (MB)."),
    max_pixels: int = typer.Option(16_000_000, "--max-pixels", min=1,
                                   help="Largest image accepted (pixels)."),
    verify_key: Path | None = typer.Option(
        None, "--verify-key", help="Secret key file: refuse the bundle unless `sonomics "
        "sign` signed it with this key."),
) -> None:
    """Serve a bundle to a browser: one patient in, risk, nomogram points and Grad-CAM out.

    Open http://HOST:PORT/ : upload the ultrasound image (PNG, JPEG, BMP, TIFF, DICOM),
    draw a box or polygon around the lesion or upload its mask, fill in the clinical
    factors (the form is generated from the bundle), and score. The page shows every
    model's probability, the class at the training cut-off, the nomogram with this
    patient's points and the Grad-CAM overlay, and offers a printable summary.
    Scripts use the JSON API (GET /api/schema, POST /api/predict; documented at /docs).
    Scores equal `sonomics predict` on the same inputs. The bundle is verified and loaded
    once; uploads live in a private temporary folder removed after each response.
    """
    import uvicorn

    from sonomics.bundle import load_bundle, read_key
    from sonomics.serve.app import create_app

    key = read_key(verify_key) if verify_key is not None else None
    loaded = load_bundle(bundle, verify_key=key)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    application = create_app(loaded, keep=keep, max_upload_mb=max_upload_mb,
                             max_pixels=max_pixels)
    if not is_loopback(host):
        err_console.print(f"[yellow]warning:[/yellow] listening on {host}: anyone who can reach "
                          "this machine can use the page; there is no login and no "
                          "encryption. Put it behind your hospital's authenticated proxy.")
    if keep is not None:
        err_console.print(f"[yellow]keeping every scored case's files in {keep}[/yellow]")
    console.print(f"sonomics serve: http://{host}:{port}/  (API docs: /docs; Ctrl+C stops)")
    uvicorn.run(application, host=host, port=port, log_level="warning")
