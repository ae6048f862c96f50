"""Scoring one web case: checks against the bundle's schema, a private temporary folder,
and the same :func:`~sonomics.predict.score_manifest` that ``sonomics predict`` runs.

Nothing about the patient outlives the request: the image, mask and one-row manifest are
written to a fresh folder readable by this user only and removed before the response
(unless the server was started with ``--keep``). No name or path sent by the client is
used on the file system: files get fixed names chosen here.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import math
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sonomics.bundle import Bundle
from sonomics.serve.roi import InputError, box_mask, polygon_mask
from sonomics.serve.schema import InputSchema

#: accepted image formats: file suffix -> how its first bytes look
IMAGE_SIGNATURES = {".png": (b"\x89PNG",), ".jpg": (b"\xff\xd8",), ".bmp": (b"BM",),
                    ".tif": (b"II*\x00", b"MM\x00*")}
CASE_ID = "web-case"


@dataclass
class CaseInput:
    """One patient as the page or the API sends it."""

    image: bytes
    mask: bytes | None = None
    roi_box: str = ""
    roi_polygon: str = ""
    factors: dict[str, str] = field(default_factory=dict)
    spacing_mm: str = ""
    accept_out_of_range: bool = False
    segment: bool = False  # the bundle's segmenter draws the ROI (roi_box: its box prompt)
    figures: bool = True  # the Grad-CAM and nomogram PNGs (a script may not want them)


def image_suffix(data: bytes, what: str = "image") -> str:
    """The file suffix of an uploaded image, from its content (never from the client's
    file name): PNG, JPEG, BMP, TIFF or DICOM."""
    if not data:
        raise InputError(f"{what}: the upload is empty")
    for suffix, signatures in IMAGE_SIGNATURES.items():
        if data.startswith(signatures):
            return suffix
    if data[128:132] == b"DICM":
        return ".dcm"
    raise InputError(f"{what}: not a PNG, JPEG, BMP, TIFF or DICOM file", status=415)


def check_factors(schema: InputSchema, given: dict[str, str], accept_out_of_range: bool
                  ) -> tuple[dict[str, str], list[str]]:
    """The clinical values to score and the warnings they carry.

    A missing value is an error unless the bundle imputes (then a warning); an unseen
    category is an error (the clinical model cannot score it); a value outside the
    training range is an error unless the caller accepts it (then a warning: the nomogram
    extends its axes linearly, as ``rms`` does).
    """
    known = {f.name for f in schema.factors}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InputError(f"factor '{unknown[0]}': not a clinical factor of this model "
                         f"(expected: {', '.join(sorted(known)) or 'none'})")
    values, warnings = {}, []
    for f in schema.factors:
        raw = str(given.get(f.name, "") or "").strip()
        if not raw:
            if not schema.impute_missing:
                raise InputError(f"factor '{f.name}': missing; the clinical model and the "
                                 "nomogram need it")
            warnings.append(f"{f.name}: missing, imputed with the training value")
            values[f.name] = ""
            continue
        if f.kind == "categorical":
            if f.levels and raw not in f.levels:
                raise InputError(f"factor '{f.name}': category {raw!r} was never seen in "
                                 f"training (seen: {', '.join(f.levels)})")
        else:
            try:
                number = float(raw)
            except ValueError:
                raise InputError(f"factor '{f.name}': {raw!r} is not a number") from None
            if not math.isfinite(number):
                raise InputError(f"factor '{f.name}': {raw!r} is not a finite number")
            if f.low is not None and f.high is not None and not f.low <= number <= f.high:
                message = (f"{f.name}: {number:g}{' ' + f.unit if f.unit else ''} lies outside "
                           f"the training range {f.low:g}–{f.high:g}")
                if not accept_out_of_range:
                    raise InputError(f"factor '{f.name}': {message.split(': ', 1)[1]}; "
                                     "resend with accept_out_of_range to score it anyway "
                                     "(the nomogram extends its axes linearly)")
                warnings.append(message + " (scored by linear extension of the nomogram)")
        values[f.name] = raw
    return values, warnings


def load_upload(folder: Path, data: bytes, max_pixels: int):
    """An uploaded image written to ``folder`` under a fixed name (suffix from its content)
    and read by the study's reader; returns ``(path, LoadedImage)``. Unreadable → 422,
    larger than ``max_pixels`` → 413, the message never naming the server's folder."""
    from sonomics.data.images import ImageReadError, read_image

    path = folder / f"image{image_suffix(data)}"
    path.write_bytes(data)
    try:
        loaded = read_image(path)
    except ImageReadError as exc:
        raise InputError(f"image: {_without(folder, exc)}") from None
    rows, cols = loaded.shape
    if rows * cols > max_pixels:
        raise InputError(f"image: {cols} x {rows} pixels is more than this server accepts "
                         f"({max_pixels:,} pixels)", status=413)
    return path, loaded


def _without(folder: Path, message: object) -> str:
    """A message that names an uploaded file by its fixed name, not the server's folder."""
    return str(message).replace(f"{folder}/", "").replace(str(folder), "")


def _png_b64(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _figure_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class CaseScorer:
    """Scores web cases with one loaded bundle (one case at a time: scoring mutates a
    harmonised model's site table, and two CNN passes at once would only compete for the
    same cores)."""

    def __init__(self, bundle: Bundle, schema: InputSchema, keep: Path | None = None,
                 max_pixels: int = 16_000_000) -> None:
        self.bundle, self.schema, self.keep, self.max_pixels = bundle, schema, keep, max_pixels
        self._lock = threading.Lock()
        cfg = bundle.meta["config"]["data"]
        self.mask_label, self.spacing_column = cfg.get("mask_label"), cfg.get("spacing")

    def score(self, case: CaseInput) -> dict[str, Any]:
        factors, warnings = check_factors(self.schema, case.factors, case.accept_out_of_range)
        folder = Path(tempfile.mkdtemp(prefix="sonomics-serve-"))  # mode 0700
        try:
            with self._lock:
                return self._score_in(folder, case, factors, warnings)
        finally:
            if self.keep is not None:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
                shutil.copytree(folder, self.keep / f"{stamp}-{uuid.uuid4().hex[:8]}")
            shutil.rmtree(folder, ignore_errors=True)

    def _score_in(self, folder: Path, case: CaseInput, factors: dict[str, str],
                  warnings: list[str]) -> dict[str, Any]:
        from sonomics.predict import score_manifest

        image, loaded = load_upload(folder, case.image, self.max_pixels)
        shape = loaded.shape
        mask = self._write_mask(folder, case, shape)
        row = {"case_id": CASE_ID, "image": str(image), "mask": str(mask or ""), **factors}
        if mask is None:  # the segmenter's ROI, inside the box prompt when one is given
            row["roi_box"] = case.roi_box
        if self.spacing_column:
            row[self.spacing_column] = case.spacing_mm.strip()
            if not case.spacing_mm.strip() and loaded.spacing_source != "header":
                warnings.append("pixel spacing not given: the radiomics features are computed "
                                "in pixel units, the study's in mm")
        manifest = folder / "manifest.csv"
        with manifest.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            writer.writeheader()
            writer.writerow(row)
        result = score_manifest(self.bundle, manifest, folder / "out", gradcam=case.figures)
        # messages name the uploaded files by their fixed names, not the server's folder
        result["error"] = [_without(folder, e) for e in result["error"].astype(str)]
        return self._response(result.iloc[0], warnings, case.figures)

    def _write_mask(self, folder: Path, case: CaseInput, shape: tuple[int, int]
                    ) -> Path | None:
        from PIL import Image

        if case.segment:
            return self._check_segment_request(case, shape)
        given = [name for name, v in (("mask", case.mask), ("roi_box", case.roi_box),
                                      ("roi_polygon", case.roi_polygon)) if v]
        if len(given) != 1:
            raise InputError("roi: give exactly one of a mask file, roi_box or roi_polygon "
                             f"(got {', '.join(given) if given else 'none'})")
        if case.mask:
            path = folder / f"mask{image_suffix(case.mask, 'mask')}"
            path.write_bytes(case.mask)
            return path
        drawn = box_mask(case.roi_box, shape) if case.roi_box else \
            polygon_mask(case.roi_polygon, shape)
        if not drawn.any():
            raise InputError(f"{given[0]}: the ROI is empty (it covers no pixel)")
        value = 255 if self.mask_label is None else int(self.mask_label)
        path = folder / "mask.png"
        Image.fromarray(drawn.astype(np.uint8) * value).save(path)
        return path

    def _check_segment_request(self, case: CaseInput, shape: tuple[int, int]) -> None:
        if "segmenter" not in self.bundle.meta:
            raise InputError("segment: this bundle has no segmenter (its study ran without "
                             "segment.enabled); give a mask, a box or a polygon")
        if case.mask or case.roi_polygon:
            raise InputError("segment: the segmenter draws the ROI; send no mask or polygon "
                             "with it (roi_box is its box prompt)")
        needs_box = self.bundle.meta["segmenter"]["settings"].get("box_prompt")
        if case.roi_box:
            box_mask(case.roi_box, shape)  # the same checks as a drawn box
        elif needs_box:
            raise InputError("roi_box: this segmenter needs a box around the lesion")

    def segment_only(self, image: bytes, roi_box: str) -> bytes:
        """The segmenter's ROI of an image as a 0/255 PNG (for the page's overlay)."""
        from sonomics.predict import CaseError, auto_mask, parse_box

        case = CaseInput(image=image, roi_box=roi_box, segment=True)
        folder = Path(tempfile.mkdtemp(prefix="sonomics-serve-"))
        try:
            _, loaded = load_upload(folder, image, self.max_pixels)
            self._check_segment_request(case, loaded.shape)
            with self._lock:
                try:
                    mask = auto_mask(self._segmenter, CASE_ID, loaded.array,
                                     parse_box(roi_box, CASE_ID), folder)
                except CaseError as exc:
                    raise InputError(str(exc).replace(f"case {CASE_ID}, ", "")) from None
            return mask.read_bytes()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @functools.cached_property
    def _segmenter(self):
        from sonomics.predict import load_segmenter

        return load_segmenter(self.bundle)

    def _response(self, row: pd.Series, warnings: list[str], figures: bool
                  ) -> dict[str, Any]:
        error = str(row.get("error", "") or "")
        models = {}
        for model in ("clinical", "radiomics", "deep", "dlr", "nomogram"):
            prob = row.get(f"{model}_prob")
            if prob is not None and pd.notna(prob):
                models[model] = {"probability": float(prob),
                                 "class": str(row.get(f"{model}_class", "")),
                                 "cutoff": self.schema.cutoffs.get(model)}
        if not models:
            raise InputError(error.removeprefix(f"case {CASE_ID}: ") or "the case was not scored")
        if error:  # the image models scored, the clinical ones could not
            warnings.append(error.removeprefix(f"case {CASE_ID}: "))
        points = {k.removeprefix("points_"): float(v) for k, v in row.items()
                  if str(k).startswith("points_") and pd.notna(v)}
        out: dict[str, Any] = {"models": models, "points": points, "warnings": warnings,
                               "roi": str(row.get("mask_source", "manual")),
                               "provenance": self.schema.provenance}
        if isinstance(row.get("gradcam"), str) and Path(row["gradcam"]).exists():
            out["gradcam_png"] = _png_b64(Path(row["gradcam"]))
        nomo = self.bundle.models.get("nomogram.nomogram")
        if figures and nomo is not None and "nomogram" in models:
            patient = pd.Series({**points, "risk": models["nomogram"]["probability"]})
            out["nomogram_png"] = _figure_b64(nomo.figure(
                title="Nomogram: this patient", patient=patient))
        return out


def preview_png(data: bytes, max_pixels: int = 16_000_000) -> tuple[bytes, tuple[int, int]]:
    """An uploaded image as an 8-bit PNG in the study's pixel grid (what the page draws
    the ROI on; TIFF and DICOM cannot be shown by a browser)."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="sonomics-serve-") as tmp:
        array = load_upload(Path(tmp), data, max_pixels)[1].array
    lo, hi = float(np.percentile(array, 0.5)), float(np.percentile(array, 99.5))
    grey = np.clip((array - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG")
    return buf.getvalue(), (array.shape[1], array.shape[0])

