"""The web application of ``sonomics serve`` (FastAPI; every asset served locally).

Pages: ``GET /`` (the form), ``POST /predict`` (the result page and its printable
summary). API: ``GET /api/schema``, ``POST /api/predict``, ``POST /api/preview``; the
OpenAPI page at ``/docs`` uses the Swagger UI that the ``swagger-ui-bundle`` package
ships, so nothing is fetched from the internet.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from sonomics.bundle import Bundle
from sonomics.serve.limits import BodyLimit
from sonomics.serve.roi import InputError
from sonomics.serve.schema import InputSchema, input_schema
from sonomics.serve.scoring import CaseInput, CaseScorer, preview_png

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MODEL_NAMES = {"clinical": "Clinical", "radiomics": "Radiomics", "deep": "Deep learning",
               "dlr": "DLR (fused)", "nomogram": "Nomogram (DLRN)"}

templates = Environment(loader=PackageLoader("sonomics.serve", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
templates.filters["b64"] = lambda text: base64.b64encode(str(text).encode()).decode()


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(model_names=MODEL_NAMES, **context)
    return HTMLResponse(html, status_code=status)


def _factors_from_form(form: Any, schema: InputSchema) -> dict[str, str]:
    return {f.name: str(form.get(f"factor.{f.name}", "") or "") for f in schema.factors}


def create_app(bundle: Bundle, *, keep: Path | None = None, max_upload_mb: float = 32,
               max_pixels: int = 16_000_000) -> FastAPI:
    """The application for one loaded bundle (loaded once, shared by every request)."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html

    schema = input_schema(bundle)
    scorer = CaseScorer(bundle, schema, keep=keep, max_pixels=max_pixels)
    app = FastAPI(title="sonomics", docs_url=None, redoc_url=None,
                  description="Score one patient with a finished sonomics study's bundle: "
                              "every model's probability, the class at the training cut-off, "
                              "the nomogram's points and the Grad-CAM overlay.")
    app.add_middleware(BodyLimit, max_bytes=int(max_upload_mb * 1024 * 1024))
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        return _page("index.html", exc.status, schema=schema, error=str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")  # the traceback goes to the server's log only
        line = f"internal error ({type(exc).__name__}); the server log has the details"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": line}, status_code=500)
        return _page("index.html", 500, schema=schema, error=line)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="sonomics API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return _page("index.html", schema=schema, error="")

    @app.get("/api/schema", summary="The inputs this model expects")
    def api_schema() -> dict[str, Any]:
        """The clinical factors (type, categories seen in training, training range, unit),
        the ROI modes, the models and their training cut-offs, and the provenance."""
        return schema.as_json()

    @app.post("/api/preview", summary="An uploaded image as the PNG the ROI is drawn on",
              response_class=Response)
    async def api_preview(image: UploadFile = File(...)) -> Response:
        png, _ = preview_png(await image.read(), max_pixels)
        return Response(png, media_type="image/png")

    @app.post("/api/segment", summary="The bundle's automatic ROI of an image (PNG mask)",
              response_class=Response)
    async def api_segment(image: UploadFile = File(...), roi_box: str = Form("")) -> Response:
        """The segmenter's lesion mask (0/255 PNG, the image's size), for the page to show
        before the clinician accepts or redraws it."""
        from starlette.concurrency import run_in_threadpool

        png = await run_in_threadpool(scorer.segment_only, await image.read(), roi_box)
        return Response(png, media_type="image/png")

    @app.post("/api/predict", summary="Score one patient")
    async def api_predict(
        image: UploadFile = File(..., description="PNG, JPEG, BMP, TIFF or DICOM"),
        mask: UploadFile | None = File(None, description="ROI mask file (or a box/polygon)"),
        roi_box: str = Form("", description="x0,y0,x1,y1 in image pixels (x = column)"),
        roi_polygon: str = Form("", description="[[x, y], ...] in image pixels"),
        factors: str = Form("{}", description="JSON object: clinical factor -> value"),
        spacing_mm: str = Form("", description="pixel spacing in mm (where the study used "
                                               "one)"),
        accept_out_of_range: bool = Form(False, description="score a value outside the "
                                                            "training range (with a warning)"),
        figures: bool = Form(True, description="include the Grad-CAM and nomogram PNGs"),
        segment: bool = Form(False, description="let the bundle's segmenter draw the ROI "
                                                "(roi_box, if given, is its box prompt)"),
    ) -> dict[str, Any]:
        """Every model's probability and class at the training cut-off, the nomogram's
        points per factor, warnings, and the Grad-CAM and nomogram figures (PNG, base64)."""
        try:
            given = json.loads(factors or "{}")
        except json.JSONDecodeError:
            raise InputError("factors: not a JSON object") from None
        if not isinstance(given, dict):
            raise InputError("factors: not a JSON object of factor -> value")
        case = CaseInput(image=await image.read(), mask=await mask.read() if mask else None,
                         roi_box=roi_box, roi_polygon=roi_polygon,
                         factors={str(k): "" if v is None else str(v) for k, v in given.items()},
                         spacing_mm=spacing_mm, accept_out_of_range=accept_out_of_range,
                         figures=figures, segment=segment)
        return await _score(case)

    @app.post("/predict", response_class=HTMLResponse, include_in_schema=False)
    async def page_predict(request: Request) -> HTMLResponse:
        form = await request.form()
        upload, mask = form.get("image"), form.get("mask")
        if not hasattr(upload, "read"):
            raise InputError("image: no file uploaded")
        mode = str(form.get("roi_mode", ""))
        mask_bytes = await mask.read() if mode == "mask" and hasattr(mask, "read") else None
        case = CaseInput(
            image=await upload.read(), mask=mask_bytes or None,
            roi_box=str(form.get("roi_box", "")) if mode == "box" else "",
            roi_polygon=str(form.get("roi_polygon", "")) if mode == "polygon" else "",
            factors=_factors_from_form(form, schema),
            spacing_mm=str(form.get("spacing_mm", "")),
            accept_out_of_range=form.get("accept_out_of_range") == "on")
        result = await _score(case)
        if mode == "mask" and form.get("roi_source") == "auto":
            result["roi"] = "automatic (the study's segmenter), checked and accepted on the page"
        summary = templates.get_template("summary.html").render(
            model_names=MODEL_NAMES, result=result, schema=schema, factors=case.factors)
        return _page("result.html", schema=schema, result=result, factors=case.factors,
                     summary=summary)

    async def _score(case: CaseInput) -> dict[str, Any]:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(scorer.score, case)

    return app
