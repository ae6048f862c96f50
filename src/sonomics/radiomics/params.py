"""pyradiomics extraction parameters: the shipped 2D file, config overrides, validation.

The parameter file has pyradiomics' own layout (``setting`` / ``imageType`` /
``featureClass``) so that a user can take any published pyradiomics YAML and
point ``cfg.radiomics.params`` at it. Three config keys override the file:

* ``bin_width`` sets ``setting.binWidth`` (fixed bin size, pyradiomics' default
  discretisation and the paper's 25);
* ``bin_count`` (when given) sets ``setting.binCount`` and removes ``binWidth``
  (fixed bin number: each image's ROI range is cut into that many bins);
* ``sigma_in_pixels`` decides whether filters see the real pixel spacing
  (see :func:`sonomics.radiomics.extract.extract_case`).

The resolved parameters are a plain dict; :func:`params_digest` gives the stable
hash used in the cache key, so any change of a setting recomputes features.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

#: bump when sonomics changes how it calls pyradiomics (part of every cache key)
EXTRACTOR_REVISION = "sonomics-radiomics-1"

#: pyradiomics image types that exist for a 2D image
KNOWN_IMAGE_TYPES = {
    "Original", "Wavelet", "LoG", "Square", "SquareRoot", "Logarithm", "Exponential",
    "Gradient", "LBP2D", "LBP3D",
}
KNOWN_FEATURE_CLASSES = {
    "shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm",
}
SHAPE_CLASSES = {"shape", "shape2D"}


class RadiomicsParamsError(ValueError):
    """A pyradiomics parameter file or override is not usable; the message names the key."""


def shipped_params_path() -> Path:
    """Path of the parameter file shipped with sonomics (``resources/radiomics_2d.yaml``)."""
    return Path(str(resources.files("sonomics") / "resources" / "radiomics_2d.yaml"))


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Read a pyradiomics parameter YAML and check its top-level layout."""
    path = Path(path)
    if not path.is_file():
        raise RadiomicsParamsError(f"radiomics parameter file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RadiomicsParamsError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise RadiomicsParamsError(f"{path}: top level must be a mapping "
                                   "with setting / imageType / featureClass")
    return validate_params(raw, source=str(path))


def validate_params(params: dict[str, Any], source: str = "params") -> dict[str, Any]:
    """Check names of image types and feature classes; fill empty sections; return a copy."""
    params = copy.deepcopy(params)
    unknown_top = set(params) - {"setting", "imageType", "featureClass", "voxelSetting"}
    if unknown_top:
        raise RadiomicsParamsError(f"{source}: unknown section(s) {sorted(unknown_top)}; "
                                   "allowed: setting, imageType, featureClass")
    params["setting"] = dict(params.get("setting") or {})
    params["imageType"] = {k: dict(v or {}) for k, v in (params.get("imageType") or {}).items()}
    params["featureClass"] = {k: v for k, v in (params.get("featureClass") or {}).items()}
    if not params["imageType"]:
        raise RadiomicsParamsError(f"{source}: imageType is empty; enable at least Original")
    bad_types = sorted(set(params["imageType"]) - KNOWN_IMAGE_TYPES)
    if bad_types:
        raise RadiomicsParamsError(f"{source}: unknown imageType {bad_types}; "
                                   f"allowed: {sorted(KNOWN_IMAGE_TYPES)}")
    bad_classes = sorted(set(params["featureClass"]) - KNOWN_FEATURE_CLASSES)
    if bad_classes:
        raise RadiomicsParamsError(f"{source}: unknown featureClass {bad_classes}; "
                                   f"allowed: {sorted(KNOWN_FEATURE_CLASSES)}")
    setting = params["setting"]
    if "binWidth" in setting and "binCount" in setting:
        raise RadiomicsParamsError(f"{source}: setting has both binWidth and binCount; keep one")
    if setting.get("force2D"):
        raise RadiomicsParamsError(f"{source}: setting.force2D must be false for 2D images "
                                   "(true runs 1D wavelets on a 2D array)")
    return params


def load_params(radiomics_cfg: Any | None = None) -> dict[str, Any]:
    """The resolved pyradiomics parameters for a ``RadiomicsConfig`` (or the shipped defaults).

    The file is ``radiomics_cfg.params`` or the shipped one; ``bin_width`` /
    ``bin_count`` from the config then replace the file's discretisation.
    """
    path = getattr(radiomics_cfg, "params", None) or shipped_params_path()
    params = read_params_file(path)
    if radiomics_cfg is not None:
        setting = params["setting"]
        bin_count = getattr(radiomics_cfg, "bin_count", None)
        if bin_count is not None:
            setting.pop("binWidth", None)
            setting["binCount"] = int(bin_count)
        else:
            setting.pop("binCount", None)
            setting["binWidth"] = float(radiomics_cfg.bin_width)
    return params


def params_digest(params: dict[str, Any]) -> str:
    """A stable SHA-256 of the parameters (key order does not matter)."""
    text = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extractor_version() -> str:
    """pyradiomics version + sonomics' extraction revision: both change feature values."""
    import radiomics

    return f"pyradiomics-{radiomics.__version__}+{EXTRACTOR_REVISION}"
