"""The prediction bundle: everything needed to score a new patient, stored safely.

A bundle is a folder:

* ``bundle.json`` — format version, sonomics version, creation time and the
  SHA-256 of every other file (integrity);
* ``meta.json`` — plain data: selected features, cut-offs, nomogram
  coefficients and points, clinical encodings, extraction parameters, versions;
* ``models.skops`` — fitted scikit-learn objects (scalers, selectors, PCA,
  classifiers), written with skops;
* ``*.safetensors`` — CNN weights (and the segmenter's, when the study trained one).

Loading never executes code from the bundle: no pickle. skops reconstructs
only skops' safe defaults and the exact types of :data:`TRUSTED_TYPES` (checked
against ``skops.io.get_untrusted_types``; no module prefixes), safetensors holds
tensors only and JSON holds data only. A bundle whose files do not match their
recorded hashes, or that was written by an incompatible format version, is
refused with a clear message.

What the hashes do and do not guarantee: they catch corruption and careless
edits, but whoever can write the bundle can rewrite the hashes too. Against a
forger, sign it: :func:`sign_bundle` (``sonomics sign BUNDLE --key KEYFILE``)
writes ``bundle.sig``, an HMAC-SHA256 of ``bundle.json`` (which holds every
file's hash) under a secret key; ``sonomics predict --verify-key KEYFILE``
refuses a bundle whose signature is missing or does not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sonomics._version import __version__
from sonomics.io import atomic_write_bytes, atomic_write_text, sha256_file

FORMAT_VERSION = 1

#: the exact types (beyond skops' own safe defaults) that a stored model may contain: the
#: study's fitted objects and the classifiers of the registry. Never a module prefix and
#: nothing callable from builtins, functools, operator, os, subprocess: a type not named
#: here is refused, so a rewritten model file cannot make the loader run code.
TRUSTED_TYPES = frozenset({
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.tree._tree.Tree",
    "sonomics.deep.features.CappedPCA",
    "sonomics.deep.preprocess.Normaliser",
    "sonomics.models.clinical.ClinicalEncoder",
    "sonomics.models.clinical.ClinicalImputer",
    "sonomics.models.nomogram.Nomogram",
    "sonomics.selection.columns.ColumnSelector",
    "sonomics.selection.harmonisation.SiteHarmoniser",
    "sonomics.selection.selectors.CorrelationFilter",
    "sonomics.selection.selectors.GreedyElimination",
    "sonomics.selection.selectors.ICCFilter",
    "sonomics.selection.selectors.LassoSelector",
    "sonomics.selection.selectors.TTestSelector",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
})


class BundleError(ValueError):
    """The bundle cannot be used (missing, tampered with, or incompatible)."""


@dataclass
class Bundle:
    """A loaded bundle: plain metadata, sklearn objects and tensors by name."""

    path: Path
    meta: dict[str, Any]
    models: dict[str, Any]
    info: dict[str, Any]

    def tensors(self, name: str) -> dict[str, Any]:
        """The state dict stored as ``<name>.safetensors``."""
        from safetensors.torch import load_file

        file = self.path / f"{name}.safetensors"
        if not file.exists():
            raise BundleError(f"bundle has no tensors named '{name}'")
        return load_file(str(file))


def save_bundle(path: str | Path, meta: dict[str, Any], models: dict[str, Any],
                tensors: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write a bundle folder (atomically per file; ``bundle.json`` last)."""
    import skops.io as sio

    from sonomics.torch_io import write_weights

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / "meta.json",
                      json.dumps(meta, indent=2, sort_keys=True, default=json_default))
    atomic_write_bytes(path / "models.skops", sio.dumps(models))
    for name, state in (tensors or {}).items():
        write_weights({k: v.detach().cpu().contiguous() for k, v in state.items()},
                      path / f"{name}.safetensors")
    files = sorted(p.name for p in path.iterdir()
                   if p.is_file() and p.name != "bundle.json" and not p.name.startswith("."))
    info = {"format_version": FORMAT_VERSION, "sonomics_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {name: sha256_file(path / name) for name in files}}
    info["digest"] = _digest(info["files"])
    atomic_write_text(path / "bundle.json", json.dumps(info, indent=2))
    return path


SIGNATURE = "bundle.sig"


def _hmac(key: bytes, info_path: Path) -> str:
    import hmac

    return hmac.new(key, info_path.read_bytes(), hashlib.sha256).hexdigest()


def read_key(key_file: str | Path) -> bytes:
    """A signing key: the bytes of a file the user keeps secret (at least 16 bytes)."""
    key = Path(key_file).read_bytes().strip()
    if len(key) < 16:
        raise BundleError(f"signing key {key_file}: too short ({len(key)} bytes; use at "
                          "least 16 random bytes, e.g. `openssl rand -hex 32 > key`)")
    return key


def sign_bundle(path: str | Path, key: bytes) -> Path:
    """Write ``bundle.sig``: HMAC-SHA256 of ``bundle.json`` under ``key``."""
    path = Path(path)
    load_bundle(path)  # sign only a bundle that verifies
    return atomic_write_text(path / SIGNATURE, _hmac(key, path / "bundle.json") + "\n")


def verify_signature(path: str | Path, key: bytes) -> None:
    """Raise :class:`BundleError` unless ``bundle.sig`` matches ``bundle.json`` under ``key``."""
    import hmac

    path = Path(path)
    sig = path / SIGNATURE
    if not sig.is_file():
        raise BundleError(f"bundle is not signed (no {SIGNATURE}): {path}; refusing it "
                          "because --verify-key was given")
    if not hmac.compare_digest(sig.read_text().strip(), _hmac(key, path / "bundle.json")):
        raise BundleError(f"bundle signature does not match (forged, altered, or signed "
                          f"with another key): {path}")


def load_bundle(path: str | Path, verify_key: bytes | None = None) -> Bundle:
    """Load and verify a bundle (and its signature, given a key); raises
    :class:`BundleError` with the reason."""
    path = Path(path)
    if verify_key is not None:
        verify_signature(path, verify_key)
    info_path = path / "bundle.json"
    if not info_path.is_file():
        raise BundleError(f"not a sonomics bundle (no bundle.json): {path}")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle.json is not valid JSON ({exc}): {path}") from None
    if info.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"bundle format {info.get('format_version')} was written by sonomics "
                          f"{info.get('sonomics_version')}; this sonomics ({__version__}) reads "
                          f"format {FORMAT_VERSION} only — re-run the study to make a new one")
    files = info.get("files") or {}
    if info.get("digest") != _digest(files):
        raise BundleError(f"bundle.json was altered (digest mismatch): {path}")
    present = {p.name for p in path.iterdir() if p.is_file()
               and p.name not in ("bundle.json", SIGNATURE) and not p.name.startswith(".")}
    extra = present - set(files)
    if extra:
        raise BundleError(f"bundle holds files it did not record: {sorted(extra)}")
    for name, digest in files.items():
        file = path / name
        if not file.is_file():
            raise BundleError(f"bundle file missing: {name}")
        if sha256_file(file) != digest:
            raise BundleError(f"bundle file {name} does not match its recorded hash "
                              "(tampered with or corrupted); refusing to load it")
    models = load_skops(path / "models.skops")
    meta = json.loads((path / "meta.json").read_text())
    return Bundle(path=path, meta=meta, models=models, info=info)


def load_skops(file: str | Path) -> Any:
    """Load a skops file, reconstructing only skops' safe defaults and :data:`TRUSTED_TYPES`.

    Anything else — a function such as ``builtins.exec``, a ``functools.partial`` — is
    refused before any object is built, with the offending type names in the message.
    """
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=file)
    refused = sorted(t for t in untrusted if t not in TRUSTED_TYPES)
    if refused:
        raise BundleError(f"{Path(file).name} contains types that are not trusted: {refused}; "
                          "refusing to load it (it may have been tampered with)")
    return sio.load(file, trusted=untrusted)


def _digest(files: dict[str, str]) -> str:
    blob = json.dumps(files, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def json_default(value: Any) -> Any:
    """JSON for the numpy scalars/arrays and paths that metadata holds; refuse the rest."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in bundle metadata")
