"""A tiny synthetic study (shared by the end-to-end, resume and cross-validation tests).

A reduced radiomics parameter file, a small CNN at 32 px and two classifiers keep one run
under a minute on 2 cores; the full settings are exercised by `make demo` and the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sonomics.config import StudyConfig
from sonomics.data.demo import DemoSettings, demo_config_dict, generate_demo_cohort

FIXTURES = Path(__file__).parent / "fixtures" / "study"


def tiny_config(root: Path, **overrides) -> StudyConfig:
    manifest = generate_demo_cohort(root / "cohort", DemoSettings(
        n_benign=26, n_malignant=18, seed=11, image_size=(96, 128), pixel_spacing_mm=0.7))
    add_synthetic_birads(manifest, seed=11)
    raw = demo_config_dict(manifest, root / "run")
    raw["radiomics"] = {"params": str(FIXTURES / "radiomics_small.yaml"), "workers": 1,
                        "icc_subset": 20}
    raw["models"] = {"classifiers": ["LR", "RandomForest"], "cv_folds": 3}
    raw["selection"] = {"lasso_folds": 3}
    raw["deep"] = {"backbones": ["resnet18"], "input_size": 32, "epochs": 2, "batch_size": 16,
                   "pca_components": 8, "early_stopping": 2, "profile": "quick"}
    raw["fusion"] = {"oof_folds": 3}  # as the quick profile does
    for key, value in overrides.items():
        raw.setdefault(key, {}).update(value)
    return StudyConfig.from_dict(raw)


def add_synthetic_birads(manifest: Path, seed: int) -> None:
    """A stand-in radiologist: BI-RADS drawn from class-dependent category frequencies."""
    frame = pd.read_csv(manifest)
    rng = np.random.default_rng(seed)
    cats = ["2", "3", "4a", "4b", "4c", "5"]
    benign, malignant = [.3, .35, .2, .1, .05, 0], [0, .05, .15, .25, .25, .3]
    frame["birads"] = [rng.choice(cats, p=malignant if lab == "malignant" else benign)
                       for lab in frame["label"]]
    frame.loc[frame.index[:2], "birads"] = "0"  # incomplete assessment: no comparator score
    frame.to_csv(manifest, index=False)


