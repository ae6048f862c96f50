"""Can the quick profile's CNN learn the demo generator's image signal? (issue 18)

Renders a CALIBRATION cohort (``--seed 7`` by default: other patients than the demo's
seed 2024, so the demo's own test split plays no part in choosing anything), crops every
lesion as the CNN stage does (ROI box + margin, 128 px), trains one CNN from random
weights on 70% of the patients (the study's own trainer: patient-grouped validation
carve-out, early stopping) and reports its AUC on the other 30%. Generator constants
(``HALO_*`` in ``sonomics.data.demo``) and recipe knobs can be overridden, so each
line of the calibration table in ``benchmarks/real_data.md`` is one command:

    python benchmarks/demo_cnn_calibration.py '{"context_effect": 0.0}'
    python benchmarks/demo_cnn_calibration.py '{"HALO_RATE": [0.12, 0.74]}'
    python benchmarks/demo_cnn_calibration.py '{"backbone": "mobilenet_v3_small"}'

Keys: ``backbone``, ``epochs``, ``margin``, ``lr``, ``patience``, ``batch_size``, any
``DemoSettings`` field, any ``HALO_*`` constant. About 1 min per run on 2 CPU cores.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

import sonomics.data.demo as demo
from sonomics.deep.preprocess import crop_to_roi, resize
from sonomics.deep.train import TrainSettings, predict_proba, train_backbone


def main(argv: list[str]) -> dict:
    args = json.loads(argv[0]) if argv else {}
    knobs = dict(args)
    backbone = knobs.pop("backbone", "resnet18")
    recipe = {"epochs": knobs.pop("epochs", 20), "learning_rate": knobs.pop("lr", 3e-4),
              "early_stopping": knobs.pop("patience", 5),
              "batch_size": knobs.pop("batch_size", 32)}
    margin = knobs.pop("margin", 0.25)
    for key in [k for k in knobs if k.startswith("HALO_")]:
        value = knobs.pop(key)
        setattr(demo, key, tuple(value) if isinstance(value, list) else value)
    settings = demo.DemoSettings(**{"seed": 7, **knobs})
    clinical = demo.generate_clinical(settings)
    crops = np.stack([resize(crop_to_roi(image.astype(np.float32), mask, margin), 128)
                      for _, image, mask, _ in demo.render_cohort(settings, clinical)])
    labels = (clinical["label"] == "malignant").to_numpy().astype(int)
    order = np.random.default_rng(0).permutation(len(labels))
    train, held = order[: int(0.7 * len(labels))], order[int(0.7 * len(labels)):]
    tic = time.perf_counter()
    result = train_backbone(backbone, crops[train], labels[train], train,
                            TrainSettings(input_size=128, device="cpu", **recipe),
                            pretrained=False, progress=False)
    prob = predict_proba(result.model, crops[held], result.normaliser)
    return {**args, "held_out_auc": round(float(roc_auc_score(labels[held], prob)), 3),
            "val_auc": round(result.val_auc, 3), "best_epoch": result.best_epoch,
            "epochs_run": len(result.history), "seconds": round(time.perf_counter() - tic)}


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(json.dumps(main(sys.argv[1:])), flush=True)
