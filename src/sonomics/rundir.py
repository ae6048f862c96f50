"""The run directory: every path a study writes, and its one reader/writer of each.

Nothing else in sonomics spells a run-directory path. Layout::

    RUN/config.yaml                  the resolved config actually used
    RUN/split.csv                    case -> train/test/external
    RUN/radiomics/                   handcrafted features (reader 1, all ratings), ICC store
    RUN/deep/                        deep features, out-of-fold CNN score, deep summary,
                                     self-supervised weights and the images they saw
    RUN/predictions/<model>.csv      each model's probabilities (training OOF score too)
    RUN/models/<model>.skops|.json   fitted objects (skops, trusted types) + plain metadata
    RUN/tables/*.csv|.md             what the report shows (never read back as data)
    RUN/figures/*.png                figures
    RUN/report.html, RUN/bundle/     the report and what `sonomics predict` needs
    RUN/cache/                       content-keyed caches and stage markers

:class:`Model` is the one enumeration of the models a study can produce.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from sonomics.bundle import json_default, load_skops
from sonomics.io import (
    atomic_write_bytes,
    atomic_write_text,
    csv_text,
    read_csv_restored,
    write_parquet,
    write_table,
)


class Model(StrEnum):
    """Every model a study reports; the value is its file name in the run directory."""

    CLINICAL = "clinical"
    RADIOMICS = "radiomics"
    DEEP = "deep"
    DLR = "dlr"
    NOMOGRAM = "nomogram"
    BIRADS = "birads"
    SHAPE = "shape"

    @property
    def label(self) -> str:
        """The name tables and figures use (the paper's, for its five models)."""
        return _LABELS[self]

    @property
    def stage(self) -> str:
        """The study stage that fits this model (its absence reason is kept under it)."""
        return _STAGES.get(self, str(self))

    @property
    def is_comparator(self) -> bool:
        """Comparators are judged beside the paper's models and never feed them."""
        return self in COMPARATORS


_LABELS = {Model.CLINICAL: "Clinical", Model.RADIOMICS: "Radiomics",
           Model.DEEP: "Deep Learning", Model.DLR: "DLR", Model.NOMOGRAM: "Nomogram",
           Model.BIRADS: "BI-RADS (radiologist)", Model.SHAPE: "Shape only (9 features)"}
_STAGES = {Model.RADIOMICS: "radiomics_model", Model.DLR: "fusion",
           Model.BIRADS: "comparators", Model.SHAPE: "comparators"}
#: the five models of the paper's Table 7, in its order
PAPER_MODELS = (Model.CLINICAL, Model.RADIOMICS, Model.DEEP, Model.DLR, Model.NOMOGRAM)
#: comparator models (Table 8)
COMPARATORS = (Model.BIRADS, Model.SHAPE)


class RunDir:
    """Paths and readers/writers of one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ paths
    @property
    def config_yaml(self) -> Path:
        return self.root / "config.yaml"

    @property
    def split_csv(self) -> Path:
        return self.root / "split.csv"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def bundle(self) -> Path:
        return self.root / "bundle"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def radiomics_features(self) -> Path:
        """Reader-1 handcrafted features, index case_id (Parquet; a CSV twin beside it)."""
        return self.root / "radiomics" / "features.parquet"

    @property
    def radiomics_all_ratings(self) -> Path:
        return self.root / "radiomics" / "features_all_readers.parquet"

    @property
    def radiomics_diagnostics(self) -> Path:
        return self.root / "radiomics" / "diagnostics.csv"

    @property
    def icc_store(self) -> Path:
        """Per-feature ICC on training cases (the data the ICC filter reads)."""
        return self.root / "radiomics" / "icc.parquet"

    @property
    def deep_features(self) -> Path:
        return self.root / "deep" / "deep_features.parquet"

    @property
    def deep_oof_score(self) -> Path:
        return self.root / "deep" / "deep_oof_score.parquet"

    @property
    def deep_summary(self) -> Path:
        return self.root / "deep" / "deep_summary.json"

    def pretrained_weights(self, backbone: str) -> Path:
        """A backbone's self-supervised weights (``deep.pretrain``), usable as deep.weights."""
        return self.root / "deep" / f"pretrained_{backbone}.safetensors"

    @property
    def pretrain_images(self) -> Path:
        """Every image the self-supervised pretraining saw (training cases, folder files)."""
        return self.root / "deep" / "pretrain_images.csv"

    @property
    def cnn_weights(self) -> Path:
        return self.models / "deep.safetensors"

    def cnn_fold_weights(self, k: int) -> Path:
        """Weights of the k-th fold CNN (1-based; their mean scores new cases)."""
        return self.models / f"deep_fold-{k}.safetensors"

    def table_path(self, name: str) -> Path:
        return self.tables / f"{name}.csv"

    def figure(self, name: str) -> Path:
        return self.figures / f"{name}.png"

    def predictions_path(self, model: Model | str) -> Path:
        return self.root / "predictions" / f"{Model(model)}.csv"

    # ------------------------------------------------------------------ tables
    def write_table(self, frame: pd.DataFrame, name: str, *, title: str | None = None,
                    note: str | None = None) -> Path:
        return write_table(frame, self.tables, name, title=title, note=note)

    def table(self, name: str) -> pd.DataFrame | None:
        path = self.table_path(name)
        return read_csv_restored(path) if path.exists() else None

    # ------------------------------------------------------------------ split
    def split(self) -> pd.Series:
        """case_id -> train/test/external, as the split stage wrote it."""
        frame = read_csv_restored(self.split_csv, index_col="case_id", dtype={"case_id": str})
        return frame["split"]

    # ------------------------------------------------------------------ features
    def features(self, path: Path) -> pd.DataFrame | None:
        """A feature table with string case ids, or None when the run has none."""
        if not path.exists():
            return None
        frame = pd.read_parquet(path)
        frame.index = frame.index.astype(str)
        return frame

    def write_features(self, frame: pd.DataFrame, path: Path) -> Path:
        return write_parquet(frame, path)

    def write_text(self, path: Path, text: str) -> Path:
        """Any other file of the run, written atomically (``path`` from a property here)."""
        return atomic_write_text(path, text)

    def icc(self) -> dict[str, float] | None:
        """Feature -> ICC on training cases (plain dict: it is stored inside fitted selectors)."""
        frame = self.features(self.icc_store)
        if frame is None or frame.empty:
            return None
        return {str(f): float(v) for f, v in frame["icc"].items()}

    # ------------------------------------------------------------------ predictions
    def save_predictions(self, model: Model | str, frame: pd.DataFrame) -> Path:
        """A model's probabilities: index case_id; columns split, label, prob[, oof]."""
        frame = frame.copy()
        frame.index.name = "case_id"
        return atomic_write_text(self.predictions_path(model), csv_text(frame))

    def predictions(self, model: Model | str) -> pd.DataFrame | None:
        path = self.predictions_path(model)
        if not path.exists():
            return None
        return read_csv_restored(path, index_col="case_id", dtype={"case_id": str})

    def test_predictions(self) -> Iterator[tuple[Model, pd.DataFrame]]:
        """(model, its test rows) for every model and comparator this run has scored."""
        for model in Model:
            pred = self.predictions(model)
            if pred is not None:
                yield model, pred[pred["split"] == "test"]

    # ------------------------------------------------------------------ fitted objects
    def save_fitted(self, name: str, objects: dict[str, Any], meta: dict[str, Any]) -> None:
        """Fitted objects (skops, no pickle) and plain metadata (JSON) under ``models/``."""
        import skops.io as sio

        atomic_write_bytes(self.models / f"{name}.skops", sio.dumps(objects))
        atomic_write_text(self.models / f"{name}.json",
                          json.dumps(meta, indent=2, default=json_default))

    def fitted(self, name: str) -> dict[str, Any]:
        """The fitted objects saved under ``name`` (trusted types only; empty when none)."""
        path = self.models / f"{name}.skops"
        return load_skops(path) if path.exists() else {}

    def meta(self, name: str) -> dict[str, Any] | None:
        path = self.models / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    # ------------------------------------------------------------------ stage state
    def absent_reason(self, stage: str) -> str | None:
        """Why a stage produced nothing (written by the runner), or None."""
        path = self.cache / "stages" / f"{stage}.absent"
        return path.read_text() if path.exists() else None
