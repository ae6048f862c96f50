"""The patient-level bootstrap CI of the AUC: like DeLong's for independent images, wider
than DeLong's (which is then too narrow) when images of a patient repeat."""

from __future__ import annotations

import numpy as np

from sonomics.evaluation.clustered import patient_bootstrap_auc_ci
from sonomics.evaluation.delong import auc_delong


def _cohort(n: int = 300, seed: int = 1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = y * 0.8 + rng.normal(size=n)
    return y, score


def test_independent_images_agree_with_delong_within_sampling_error():
    y, score = _cohort()
    auc, lo, hi = patient_bootstrap_auc_ci(y, score, np.arange(len(y)), seed=3)
    d_auc, d_lo, d_hi = auc_delong(y, score)
    assert auc == d_auc
    assert abs((hi - lo) - (d_hi - d_lo)) < 0.2 * (d_hi - d_lo)
    assert abs(lo - d_lo) < 0.02 and abs(hi - d_hi) < 0.02


def test_repeated_images_of_a_patient_widen_the_interval_delong_does_not():
    y, score = _cohort()
    y2, s2 = np.repeat(y, 2), np.repeat(score, 2)  # two identical images per patient
    patients = np.repeat(np.arange(len(y)), 2)
    _, lo, hi = patient_bootstrap_auc_ci(y2, s2, patients, seed=3)
    _, d_lo, d_hi = auc_delong(y2, s2)
    _, o_lo, o_hi = auc_delong(y, score)
    assert (hi - lo) > 1.25 * (d_hi - d_lo)  # DeLong on images is too narrow
    assert abs((hi - lo) - (o_hi - o_lo)) < 0.2 * (o_hi - o_lo)  # as wide as per patient


def test_the_bootstrap_is_seeded():
    y, score = _cohort(n=80)
    groups = np.arange(80) // 2
    assert patient_bootstrap_auc_ci(y, score, groups, seed=5) == patient_bootstrap_auc_ci(
        y, score, groups, seed=5)
