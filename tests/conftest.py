"""Shared test helpers: small cohorts written to a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def disk_mask(shape=(64, 80), center=(32, 40), radius=12) -> np.ndarray:
    rows, cols = np.indices(shape)
    return ((rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2)


def speckle_image(rng: np.random.Generator, shape=(64, 80)) -> np.ndarray:
    return rng.integers(20, 200, size=shape, dtype=np.uint8)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory, request) -> Path:
    """A folder shared by one test module, removed when the module is done.

    Whole-study fixtures write CNN checkpoints (tens of MB each); keeping every module's
    until the session ends filled a CI machine's /tmp. Kept while any test has failed, to
    look at.
    """
    path = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    failed_before = request.session.testsfailed
    yield path
    if request.session.testsfailed == failed_before:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def small_cohort(tmp_path: Path):
    """A valid 12-case cohort (6 benign, 6 malignant) with a manifest; returns a builder.

    ``build(rows=None)`` writes the manifest (optionally with edited rows) and returns
    its path; ``frame`` is the editable manifest DataFrame.
    """
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        cid = f"C{i:02d}"
        write_png(tmp_path / "img" / f"{cid}.png", speckle_image(rng))
        write_png(tmp_path / "msk" / f"{cid}.png", disk_mask().astype(np.uint8) * 255)
        rows.append({"case_id": cid, "image": f"img/{cid}.png", "mask": f"msk/{cid}.png",
                     "label": "malignant" if i % 2 else "benign", "age": str(40 + i),
                     "shape": "irregular" if i % 3 else "regular"})

    class Builder:
        frame = pd.DataFrame(rows)
        root = tmp_path

        def build(self, frame: pd.DataFrame | None = None) -> Path:
            path = tmp_path / "manifest.csv"
            (frame if frame is not None else self.frame).to_csv(path, index=False)
            return path

    return Builder()


def study_config(manifest: Path, **data):
    from sonomics.config import StudyConfig

    raw = {"data": {"manifest": str(manifest), "continuous": ["age"],
                    "categorical": ["shape"], **data},
           "out": str(manifest.parent / "run")}
    return StudyConfig.from_dict(raw)
