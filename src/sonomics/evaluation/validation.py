"""How well predicted probabilities hold on new data: R's ``rms::val.prob``.

External validation is judged by calibration as much as by discrimination:

- **calibration intercept and slope**: the logistic regression of the outcome on the
  model's logit, ``logit P(y=1) = a + b * logit(p)``; a perfectly calibrated model has
  a = 0, b = 1; b < 1 means predictions too extreme (overfitting), a != 0 means risks
  systematically too high or low. As in val.prob, a and b are fitted jointly.
- **Brier score**: mean squared error of the probabilities.
- **C (ROC)**: the concordance of p with y. val.prob takes it from ``lrm.fit``, which in
  rms 6.x (the version R 4.2 in Debian ships, and the version the reference fixtures were
  made with) counts pairs after binning the probabilities into 1/5000-wide bins;
  ``c_index`` reproduces that, ``auc`` is the exact, unbinned AUC (rms >= 7 reports it).
  They differ by at most a few pairs' share (5e-5 on the fixtures).
- **Emax, E90, Eavg**: the maximum, 90th percentile and mean absolute difference between p
  and the smoothed calibration curve (``lowess(p, y, iter=0)``, R's default span 2/3 and
  delta 1% of the range of p), evaluated at each p.

Each equals R's to 1e-6 on ``tests/fixtures/r-gold/calibration_expected.csv``
(``tests/test_r_parity.py``).
"""

from __future__ import annotations

import warnings

import numpy as np
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from sonomics.evaluation._checks import DegenerateInputError, check_binary

#: lrm.fit (rms 6.x) bins predicted probabilities this finely before counting pairs
RMS_C_BINS = 5000


def _lowess_calibration(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R's ``approx(lowess(p, y, iter=0), xout=p, ties=mean)$y``."""
    delta = 0.01 * float(p.max() - p.min())
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = sm.nonparametric.lowess(y, p, frac=2 / 3, it=0, delta=delta,
                                        return_sorted=True)
    if not np.isfinite(curve[:, 1]).all():
        raise DegenerateInputError("prob: too few distinct probabilities for the smoothed "
                                   "calibration curve (Emax/Eavg)")
    xs, inverse = np.unique(curve[:, 0], return_inverse=True)
    ys = np.bincount(inverse, weights=curve[:, 1]) / np.bincount(inverse)  # ties = mean
    return np.interp(p, xs, ys)


def _logit_fit(y: np.ndarray, X: np.ndarray, offset: np.ndarray | None = None):
    """Maximum-likelihood logistic fit that refuses, in one line, to return an estimate
    that does not exist: when the probabilities separate the classes the calibration slope
    runs off to infinity (statsmodels would only warn and return a huge number)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if offset is None:
            fit = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12, maxiter=200)
        else:
            fit = sm.GLM(y, X, family=sm.families.Binomial(), offset=offset).fit(tol=1e-12)
    trouble = [w for w in caught
               if issubclass(w.category, (PerfectSeparationWarning, ConvergenceWarning))]
    converged = getattr(fit, "converged", None)  # GLM results
    if converged is None:  # discrete-model results
        converged = fit.mle_retvals.get("converged", True)
    if trouble or not converged or not np.isfinite(fit.params).all():
        raise DegenerateInputError("prob: the probabilities (nearly) separate the classes, "
                                   "so the calibration intercept and slope are not estimable")
    return fit


def _calibration_inputs(y: object, prob: object):
    """Checked labels and probabilities, and the logit/label of those strictly in (0, 1)."""
    y_arr, p = check_binary(y, prob, name="prob")
    if (p < 0).any() or (p > 1).any():
        raise DegenerateInputError("prob: predicted probabilities must lie in [0, 1]")
    inside = (p > 0) & (p < 1)
    if inside.sum() < 3 or np.unique(y_arr[inside]).size < 2:
        raise DegenerateInputError("prob: too few probabilities strictly between 0 and 1 "
                                   "(with both classes) for the logistic calibration")
    return y_arr, p, np.log(p[inside] / (1 - p[inside])), y_arr[inside].astype(float)


def _val_prob(y_arr: np.ndarray, p: np.ndarray, logit: np.ndarray, y_in: np.ndarray):
    """val.prob's indexes and the fitted calibration (intercept + slope) model."""
    fit = _logit_fit(y_in, sm.add_constant(logit))
    error = np.abs(p - _lowess_calibration(p, y_arr.astype(float)))
    stats = {
        "n": int(p.size),
        "intercept": float(fit.params[0]),
        "slope": float(fit.params[1]),
        "brier": float(np.mean((p - y_arr) ** 2)),
        "c_index": float(roc_auc_score(y_arr, np.floor(p * RMS_C_BINS) / RMS_C_BINS)),
        "auc": float(roc_auc_score(y_arr, p)),
        "emax": float(error.max()),
        "e90": float(np.quantile(error, 0.9)),
        "eavg": float(error.mean()),
    }
    return stats, fit


def val_prob(y: object, prob: object) -> dict[str, float]:
    """``rms::val.prob(p, y)``'s calibration and discrimination indexes, by name.

    Keys: n, intercept, slope, brier, c_index (rms 6.x binned), auc (exact), emax, e90,
    eavg. Probabilities of exactly 0 or 1 are left out of the logistic calibration, as in
    val.prob (whose warning becomes a :class:`DegenerateInputError` here when nothing is
    left).
    """
    return _val_prob(*_calibration_inputs(y, prob))[0]


def calibration_with_ci(y: object, prob: object) -> dict[str, float]:
    """Calibration-in-the-large and calibration slope with Wald 95% CIs (Van Calster et
    al. 2016's weak calibration), beside val.prob's Brier, Emax and Eavg.

    ``citl``: the intercept of ``logit P(y=1) = a + logit(p)`` (slope fixed at 1, logit p
    as offset): 0 when the mean risk is right, > 0 when risks are too low. ``slope``: b of
    ``a + b * logit(p)`` (val.prob's slope). Keys: citl, citl_low, citl_high, slope,
    slope_low, slope_high, brier, emax, eavg, n.
    """
    y_arr, p, logit, y_in = _calibration_inputs(y, prob)
    stats, slope = _val_prob(y_arr, p, logit, y_in)
    citl = _logit_fit(y_in, np.ones((y_in.size, 1)), offset=logit)
    (c_lo, c_hi), (s_lo, s_hi) = citl.conf_int()[0], slope.conf_int()[1]
    return {"n": stats["n"], "citl": float(citl.params[0]), "citl_low": float(c_lo),
            "citl_high": float(c_hi), "slope": stats["slope"], "slope_low": float(s_lo),
            "slope_high": float(s_hi), "brier": stats["brier"], "emax": stats["emax"],
            "eavg": stats["eavg"]}
