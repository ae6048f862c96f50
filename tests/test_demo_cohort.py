"""The synthetic demo cohort: exact counts, paper frequencies, masks, calibrated difficulty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from sonomics.data.demo import (
    BENIGN_SUBTYPES,
    BINARY_VARIABLES,
    CATEGORICAL_VARIABLES,
    MALIGNANT_SUBTYPES,
    DemoSettings,
    generate_clinical,
    generate_demo_cohort,
)
from sonomics.segment.metrics import dice


@pytest.fixture(scope="module")
def clinical() -> pd.DataFrame:
    return generate_clinical(DemoSettings())


def test_subtype_counts_are_the_papers(clinical):
    assert (clinical["label"] == "benign").sum() == 427
    assert (clinical["label"] == "malignant").sum() == 99
    counts = clinical["subtype"].value_counts().to_dict()
    assert counts == {**BENIGN_SUBTYPES, **MALIGNANT_SUBTYPES}


def test_frequencies_match_table2(clinical):
    for var, (yes, _, overall, _) in BINARY_VARIABLES.items():
        assert (clinical[var] == yes).mean() == pytest.approx(overall, abs=0.005), var
    assert clinical["age"].mean() == pytest.approx(51.73, abs=2.5)
    assert clinical["age"].std() == pytest.approx(15.17, abs=2.5)
    assert clinical["max_diameter_cm"].mean() == pytest.approx(2.69, abs=0.2)
    assert clinical["max_diameter_cm"].std() == pytest.approx(0.98, abs=0.2)


def _design(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    x = pd.get_dummies(df[CATEGORICAL_VARIABLES], drop_first=True).astype(float)
    x["age"], x["diameter"] = df["age"], df["max_diameter_cm"]
    return x, (df["label"] == "malignant").to_numpy().astype(int)


def test_clinical_difficulty_is_calibrated():
    """Clinical-only LR test AUC about 0.85-0.90 (mean of 5 seeds); no variable > 0.85."""
    aucs = []
    for seed in range(5):
        x, y = _design(generate_clinical(DemoSettings(seed=seed)))
        xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, stratify=y,
                                              random_state=seed)
        mu, sd = xtr.mean(), xtr.std()
        model = LogisticRegression(max_iter=2000).fit((xtr - mu) / sd, ytr)
        aucs.append(roc_auc_score(yte, model.predict_proba((xte - mu) / sd)[:, 1]))
        for col in x:
            auc = roc_auc_score(y, x[col])
            assert max(auc, 1 - auc) < 0.85, col
    assert 0.84 <= np.mean(aucs) <= 0.91


def test_clinical_effect_zero_removes_the_signal():
    x, y = _design(generate_clinical(DemoSettings(clinical_effect=0.0)))
    for col in ["shape_Regular", "margin_Well-defined"]:
        assert abs(roc_auc_score(y, x[col]) - 0.5) < 0.05


def test_images_masks_and_second_reader(tmp_path: Path):
    settings = DemoSettings(n_benign=8, n_malignant=6, seed=5)
    manifest = generate_demo_cohort(tmp_path, settings)
    frame = pd.read_csv(manifest)
    assert len(frame) == 14 and (tmp_path / "SYNTHETIC.txt").exists()
    for _, row in frame.iterrows():
        image = np.asarray(Image.open(tmp_path / row["image"]))
        m1 = np.asarray(Image.open(tmp_path / row["mask"])) > 0
        m2 = np.asarray(Image.open(tmp_path / row["mask_reader2"])) > 0
        assert image.shape == settings.image_size and image.std() > 10
        assert m1.sum() > 200 and m2.sum() > 200
        assert not np.array_equal(m1, m2) and dice(m1, m2) > 0.8
        assert image[m1].mean() < image[~m1].mean()  # hypoechoic lesion


def test_deterministic(tmp_path: Path):
    settings = DemoSettings(n_benign=4, n_malignant=4, seed=9)
    a = generate_demo_cohort(tmp_path / "a", settings)
    b = generate_demo_cohort(tmp_path / "b", settings)
    assert a.read_text().replace("/a/", "/") == b.read_text().replace("/b/", "/")
    for name in pd.read_csv(a)["image"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_settings_are_checked():
    with pytest.raises(ValueError, match="image_effect"):
        DemoSettings(image_effect=3)
