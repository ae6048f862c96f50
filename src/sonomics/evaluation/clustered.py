"""AUC confidence intervals that respect patients: a seeded patient-level bootstrap.

DeLong's interval treats every image as an independent case. When a cohort holds several
images of one patient (BUS-BRA: 811 of 1,064 patients have two), images of a patient are
correlated and DeLong's interval is too narrow. Resampling whole patients (clusters) with
replacement keeps each patient's images together, so the interval reflects the number of
patients, not of images (Obuchowski 1997 gives the analytic counterpart).
"""

from __future__ import annotations

import numpy as np

from sonomics.evaluation._checks import check_binary
from sonomics.evaluation.delong import placements


def patient_bootstrap_auc_ci(y: object, score: object, groups: object, *,
                             n_boot: int = 2000, alpha: float = 0.05,
                             seed: int = 0) -> tuple[float, float, float]:
    """(AUC, lower, upper): percentile interval over bootstrap samples of whole patients.

    Samples drawing one class only are skipped (they have no AUC); the interval is taken
    over the rest.
    """
    y_arr, s_arr = check_binary(y, score, min_per_class=1)
    g = np.asarray(groups).astype(str)
    if g.shape != y_arr.shape:
        raise ValueError(f"groups: {g.size} values for {y_arr.size} cases")
    auc = placements(y_arr, s_arr)[0]
    names, codes = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(names.size)]
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        pick = np.concatenate([members[k] for k in rng.integers(0, names.size, names.size)])
        yb = y_arr[pick]
        if 0 < yb.sum() < yb.size:
            aucs.append(placements(yb, s_arr[pick])[0])
    lower, upper = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return float(auc), float(lower), float(upper)
