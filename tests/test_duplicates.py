"""Near-duplicate images: found after resize/re-encode/shift, kept on one split side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from sonomics.config import SplitConfig, StudyConfig
from sonomics.data.demo import DemoSettings, generate_demo_cohort
from sonomics.data.manifest import load_cohort
from sonomics.data.splits import make_split
from sonomics.data.validation import validate_cohort


def plant(root: Path, frame: pd.DataFrame, source: str, name: str, how: str) -> dict:
    row = frame.loc[frame["case_id"] == source].iloc[0].to_dict()
    image = Image.open(root / row["image"])
    if how == "resized":
        image = image.resize((int(image.width * 0.8), int(image.height * 0.8)))
        mask = Image.open(root / row["mask"]).resize(image.size, Image.NEAREST)
    else:
        mask = Image.open(root / row["mask"])
    if how == "shifted":
        arr = np.roll(np.asarray(image), 3, axis=1)
        image = Image.fromarray(arr)
    suffix = ".jpg" if how == "reencoded" else ".png"
    image.save(root / "images" / f"{name}{suffix}", quality=70)
    mask.save(root / "masks" / f"{name}_mask.png")
    row.update(case_id=name, patient_id=name, image=f"images/{name}{suffix}",
               mask=f"masks/{name}_mask.png", mask_reader2="")
    return row


def test_planted_duplicates_are_grouped_and_conflicts_are_errors(tmp_path: Path):
    manifest = generate_demo_cohort(tmp_path, DemoSettings(n_benign=12, n_malignant=8, seed=3))
    frame = pd.read_csv(manifest)
    benign = frame.loc[frame["label"] == "benign", "case_id"].tolist()
    extra = [plant(tmp_path, frame, benign[0], "DUP_resized", "resized"),
             plant(tmp_path, frame, benign[0], "DUP_reencoded", "reencoded"),
             plant(tmp_path, frame, benign[1], "DUP_shifted", "shifted")]
    conflict = plant(tmp_path, frame, benign[2], "DUP_conflict", "reencoded")
    conflict["label"] = "malignant"
    frame = pd.concat([frame, pd.DataFrame([*extra, conflict])], ignore_index=True)
    frame.to_csv(manifest, index=False)

    cfg = StudyConfig.from_dict({"data": {"manifest": str(manifest)}})
    cohort = load_cohort(cfg)
    validate_cohort(cohort)
    warnings = [p.message for p in cohort.warnings if "near-duplicate" in p.message]
    assert any(benign[0] in w and "DUP_resized" in w and "DUP_reencoded" in w for w in warnings)
    assert any(benign[1] in w and "DUP_shifted" in w for w in warnings)
    errors = {p.case_id for p in cohort.errors if "different labels" in p.message}
    assert errors == {benign[2], "DUP_conflict"}
    # no false alarm between different synthetic scans
    flagged = {c for w in warnings for c in w.split(": ")[1].split(", ")}
    assert flagged <= {benign[0], benign[1], "DUP_resized", "DUP_reencoded", "DUP_shifted"}

    usable = cohort.usable()
    for seed in range(10):
        split = make_split(usable, SplitConfig(seed=seed, test_size=0.4))
        assert split[benign[0]] == split["DUP_resized"] == split["DUP_reencoded"]
        assert split[benign[1]] == split["DUP_shifted"]
