"""The whole study on labels drawn at random per patient: every estimate is chance.

A permutation test over the training side of the whole study (every family's out-of-fold
training score, the clinical model, the CNN, the fusion, the nomogram and the comparators)
and its test set. Each patient has 2-3 near-duplicate images; any split inside the training
set that separated a patient's images would let a memorising classifier (ExtraTrees is in
the grid) score far above 0.5 out of fold. Before the training-side splits were grouped by
patient, this cohort gave out-of-fold AUCs up to 0.9 (see benchmarks/permutation_study.py).
"""

from __future__ import annotations

import pytest
from sklearn.metrics import roc_auc_score

from _study_data import noise_config
from sonomics.rundir import Model, RunDir
from sonomics.study import Study


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory) -> RunDir:
    cfg = noise_config(tmp_path_factory.mktemp("noise"))
    Study(cfg).run()
    return RunDir(cfg.out)


def _aucs(run: RunDir) -> dict[str, tuple[float, float]]:
    out = {}
    for model in Model:
        frame = run.predictions(model)
        if frame is None:
            continue
        train = frame[(frame["split"] == "train") & frame["oof"].notna()]
        test = frame[frame["split"] == "test"]
        out[str(model)] = (roc_auc_score(train["label"], train["oof"]),
                           roc_auc_score(test["label"], test["prob"]))
    return out


def test_every_out_of_fold_and_test_auc_is_chance_on_random_labels(noise_run):
    aucs = _aucs(noise_run)
    assert {"clinical", "radiomics", "deep", "dlr", "nomogram"} <= set(aucs), aucs
    for model, (oof, test) in aucs.items():
        assert abs(oof - 0.5) <= 0.07, (model, "out-of-fold training", round(oof, 3), aucs)
        assert abs(test - 0.5) <= 0.07, (model, "test", round(test, 3), aucs)


def test_winners_cross_validated_auc_is_chance_too(noise_run):
    # the figure that chooses each family's classifier: the best of the grid, out of fold
    for name in ("clinical", "radiomics", "dlr"):
        cv_auc = noise_run.meta(name)["cv_auc"]
        assert all(abs(v - 0.5) <= 0.07 for v in cv_auc.values()), (name, cv_auc)
