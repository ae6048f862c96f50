"""Logistic regression that says how it was fitted: maximum likelihood, or Firth's
penalised likelihood when the data separate the classes.

Under complete or quasi-complete separation the maximum-likelihood estimate does not
exist: the optimiser stops at coefficients of ±hundreds with p ≈ 1, every probability
at 0 or 1 — with only a convergence warning. Firth's bias-reduced estimate (the Jeffreys-
prior penalty ``½ log|I(β)|``) is finite and, for the logit link, what R's
``brglm2::brglmFit(type = "AS_mean")`` and ``logistf`` compute; ``tests/test_firth.py``
checks it against brglm2 to 1e-6. :func:`fit_logistic` fits by maximum likelihood (as
``rms::lrm``) and falls back to Firth when the fit does not converge, separates, or
produces non-finite or huge coefficients, and records which it used and why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

#: |coefficient| beyond which a maximum-likelihood fit is taken as separated
HUGE_COEFFICIENT = 25.0


@dataclass
class LogisticFit:
    """Coefficients (``const`` first), their standard errors, Wald p-values and provenance."""

    params: pd.Series
    bse: pd.Series
    method: str  # "maximum likelihood" | "Firth penalised likelihood"
    converged: bool
    notes: list[str] = field(default_factory=list)

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.params / self.bse)),
                         index=self.params.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        z = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({0: self.params - z * self.bse, 1: self.params + z * self.bse})

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities for rows of the predictors (without the ``const`` column)."""
        lp = self.params["const"] + X[self.params.index[1:]].to_numpy(float) @ self.params[1:]
        return 1.0 / (1.0 + np.exp(-lp))


def firth_logit(X: np.ndarray, y: np.ndarray, *, max_iter: int = 200, tol: float = 1e-10
                ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Firth's penalised-likelihood logistic regression (``X`` holds the intercept column).

    Newton-Raphson on the modified score ``X'(y - p + h(½ - p))`` with step halving on the
    penalised log-likelihood; returns (coefficients, standard errors from the inverse
    Fisher information, converged).
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    beta = np.zeros(X.shape[1])

    def penalised(b: np.ndarray) -> float:
        eta = X @ b
        p = 1 / (1 + np.exp(-eta))
        info = X.T @ (X * (p * (1 - p))[:, None])
        sign, logdet = np.linalg.slogdet(info)
        loglik = float(np.sum(y * eta - np.logaddexp(0, eta)))
        return loglik + 0.5 * logdet if sign > 0 else -np.inf

    current = penalised(beta)
    converged = False
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = p * (1 - p)
        info = X.T @ (X * w[:, None])
        inv = np.linalg.pinv(info)
        h = np.einsum("ij,jk,ik->i", X * np.sqrt(w)[:, None], inv, X * np.sqrt(w)[:, None])
        step = inv @ (X.T @ (y - p + h * (0.5 - p)))
        t = 1.0
        while t > 1e-8:
            trial = penalised(beta + t * step)
            if trial >= current - 1e-12:
                break
            t /= 2
        beta, current = beta + t * step, penalised(beta + t * step)
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    p = 1 / (1 + np.exp(-(X @ beta)))
    info = X.T @ (X * (p * (1 - p))[:, None])
    return beta, np.sqrt(np.diag(np.linalg.pinv(info))), converged


def fit_logistic(data: pd.DataFrame, y: object, predictors: list[str]) -> LogisticFit:
    """Maximum likelihood, or Firth when ML does not give finite, converged estimates."""
    import statsmodels.api as sm

    X = sm.add_constant(data[predictors].astype(float), has_constant="add")
    y_arr = np.asarray(y).astype(int)
    reason = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ml = sm.Logit(y_arr, X).fit(disp=0, maxiter=200)
            params, bse = ml.params, ml.bse
            converged = bool(ml.mle_retvals.get("converged", True))
        except (np.linalg.LinAlgError, ValueError) as exc:  # singular, perfect prediction
            params, bse, converged = None, None, False
            reason = f"maximum likelihood failed ({type(exc).__name__})"
    messages = " ".join(str(w.message).lower() for w in caught)
    if reason is None:
        if not converged:
            reason = "maximum likelihood did not converge"
        elif "separation" in messages:
            reason = "the data separate the classes (quasi-complete separation)"
        elif not (np.isfinite(params).all() and np.isfinite(bse).all()):
            reason = "maximum likelihood gave non-finite estimates"
        elif float(np.abs(params).max()) > HUGE_COEFFICIENT:
            reason = (f"maximum likelihood gave a coefficient of {float(params.abs().max()):.0f} "
                      "(separation)")
    if reason is None:
        return LogisticFit(pd.Series(params, index=X.columns), pd.Series(bse, index=X.columns),
                           "maximum likelihood", True)
    beta, se, ok = firth_logit(X.to_numpy(), y_arr)
    return LogisticFit(pd.Series(beta, index=X.columns), pd.Series(se, index=X.columns),
                       "Firth penalised likelihood", ok,
                       [f"{reason}: fitted with Firth's penalised likelihood instead"])
