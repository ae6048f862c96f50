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
    # isolate: false — a child interpreter per CNN would add ~30 s to every tiny study;
    # tests/test_deep_isolated.py covers the child-process training
    raw["deep"] = {"backbones": ["resnet18"], "input_size": 32, "epochs": 2, "batch_size": 16,
                   "pca_components": 8, "early_stopping": 2, "profile": "quick",
                   "isolate": False}
    raw["fusion"] = {"oof_folds": 3}  # as the quick profile does
    for key, value in overrides.items():
        raw.setdefault(key, {}).update(value)
    return StudyConfig.from_dict(raw)


def with_external_centre(cfg: StudyConfig, root: Path, manifests: list[Path],
                         sites: list[str]) -> StudyConfig:
    """``cfg`` on ``manifests`` (one per named site) merged with 18 cases of another centre,
    site ``Other``, which ``split.external_sites`` makes external."""
    from sonomics.data.merge import merge_manifests

    other = generate_demo_cohort(root / "other", DemoSettings(
        n_benign=10, n_malignant=8, seed=12, image_size=(96, 128), pixel_spacing_mm=0.7))
    frame = pd.read_csv(other)
    frame["birads"] = np.where(frame["label"] == "malignant", "4c", "3")
    frame.loc[frame.index[::4], "birads"] = "4a"
    frame.to_csv(other, index=False)
    merged = merge_manifests([*manifests, other], [*sites, "Other"], root / "merged").path
    return cfg.model_copy(update={
        "data": cfg.data.model_copy(update={"manifest": merged}),
        "split": cfg.split.model_copy(update={"external_sites": ["Other"]})})


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




def noise_config(root: Path, patients: int = 90, seed: int = 3, **overrides) -> StudyConfig:
    """The study config of :func:`noise_study` (validated)."""
    return StudyConfig.from_dict(noise_study(root, patients, seed, **overrides))


def noise_study(root: Path, patients: int = 90, seed: int = 3, **overrides) -> dict:
    """A cohort where nothing can be learned (labels drawn at random per patient) and the
    raw config dict of its study (only keys older commits know too).

    Each patient has 2-3 near-duplicate images (one rendered lesion plus faint noise), so a
    split of images instead of patients puts copies of a training image in the held-out
    fold. Clinical variables and BI-RADS are drawn independently of the labels too. Every
    honest estimate on this cohort is an AUC of about 0.5.
    """
    import shutil

    from PIL import Image

    rng = np.random.default_rng([seed, 1])  # not the demo generator's stream: independent
    half = patients // 2
    source = generate_demo_cohort(root / "source", DemoSettings(
        n_benign=patients - half, n_malignant=half, seed=seed, image_size=(64, 80),
        pixel_spacing_mm=0.7))
    frame = pd.read_csv(source)
    out = root / "cohort"
    (out / "images").mkdir(parents=True, exist_ok=True)
    labels = rng.permutation(["malignant"] * half + ["benign"] * (patients - half))
    rows = []
    for (_, row), label in zip(frame.iterrows(), labels, strict=True):
        base = np.asarray(Image.open(source.parent / row["image"]), dtype=np.float64)
        birads = rng.choice(["2", "3", "4a", "4b", "4c", "5"])
        for k in range(int(rng.integers(2, 4))):
            cid = f"{row['case_id']}_{k}"
            noisy = np.clip(base + rng.normal(scale=2.0, size=base.shape), 0, 255)
            Image.fromarray(noisy.astype(np.uint8)).save(out / "images" / f"{cid}.png")
            rows.append({**row, "case_id": cid, "patient_id": row["case_id"],
                         "image": f"images/{cid}.png", "label": label, "subtype": label,
                         "birads": birads})
    for sub in ("masks", "masks_reader2"):
        shutil.copytree(source.parent / sub, out / sub)
    manifest = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    raw = demo_config_dict(manifest, root / "run")
    raw["radiomics"] = {"params": str(FIXTURES / "radiomics_small.yaml"), "workers": 1,
                        "icc_subset": 20}
    raw["models"] = {"classifiers": ["LR", "ExtraTrees"], "cv_folds": 5}
    raw["selection"] = {"lasso_folds": 5, "p_threshold": 1.0}
    raw["deep"] = {"backbones": ["resnet18"], "input_size": 32, "epochs": 2, "batch_size": 32,
                   "pca_components": 8, "early_stopping": 2, "profile": "quick",
                   "isolate": False}
    raw["fusion"] = {"oof_folds": 3}
    raw["seed"] = seed
    for key, value in overrides.items():
        raw.setdefault(key, {}).update(value)
    return raw
