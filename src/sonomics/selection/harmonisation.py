"""ComBat harmonisation of features by site, as a step of the fitted feature pipeline.

Radiomics features depend on the scanner: the same lesion imaged on two machines gives
different texture values, and a model trained on one centre's values misreads another's.
ComBat (Johnson et al., Biostatistics 2007; Fortin et al. for imaging features) removes
each site's location and scale from every feature, with empirical-Bayes shrinkage across
features. :class:`SiteHarmoniser` fits it with ``combatlearn`` (Johnson's method, parametric
empirical Bayes) on the TRAINING rows only and applies the training estimates to every
other row, so each cross-validation fold refits it on its own training part and
``sonomics predict`` applies what the study fitted.

The site of a row is looked up by its case id (the row index) in ``sites``, a plain
mapping set when the pipeline is built (sites are metadata, not labels; fitting only ever
looks at the rows it is given). The class labels are not protected as a covariate: at
prediction time they are unknown, so a ComBat that used them could not be applied. When
sites differ in their share of malignant cases, ComBat removes part of that difference
too; the study's site-effect table shows what it changed.

A site never seen in training: with ``unseen_site="estimate"`` its own location and scale
are estimated from its rows in the call (at least ``min_site_cases``; no labels are used,
no shrinkage) and removed towards the training reference, the usual way to bring a new
centre in; otherwise, and when it has too few rows, the call is refused with a message
naming the site. ``sonomics predict`` scores one case at a time, so there a site unseen in
training is always refused by the harmonised models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["HarmonisationError", "SiteHarmoniser"]

#: jitter combatlearn adds to variances (kept equal so the estimates match its own)
EPS = 1e-8


class HarmonisationError(ValueError):
    """A row cannot be harmonised (its site is unknown, or unseen with too few cases)."""


class SiteHarmoniser(TransformerMixin, BaseEstimator):
    """ComBat by site, fitted on the rows given to ``fit``.

    Args:
        sites: case id -> site; rows whose id is absent (or a NumPy input, which has no
            ids) count as one site, ``"(unknown)"`` — harmless with one site, refused for
            fitting with several.
        exclude_prefixes: feature-name prefixes left as they are (e.g. ``("deep_",)``: a
            CNN's score or its PCA features).
        mean_only: remove each site's mean only, not its scale.
        unseen_site: ``"estimate"`` or ``"refuse"`` (see the module docstring).
        min_site_cases: fewest rows from which an unseen site's shift is estimated.
    """

    def __init__(self, sites: Mapping[str, str] | None = None, *,
                 exclude_prefixes: tuple[str, ...] = (), mean_only: bool = False,
                 unseen_site: str = "estimate", min_site_cases: int = 10) -> None:
        self.sites = sites
        self.exclude_prefixes = exclude_prefixes
        self.mean_only = mean_only
        self.unseen_site = unseen_site
        self.min_site_cases = min_site_cases

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Learn each training site's location and scale (``y`` is not used: see above)."""
        frame = self._frame(X, reset=True)
        site = self._site_of(frame)
        self.harmonised_ = np.array([not str(c).startswith(tuple(self.exclude_prefixes))
                                     for c in frame.columns], dtype=bool)
        self.sites_ = sorted(site.unique())
        self.site_counts_ = {s: int((site == s).sum()) for s in self.sites_}
        data = frame.loc[:, self.harmonised_]
        width = data.shape[1]
        if len(self.sites_) < 2 or width == 0:
            # one site: it is the reference (its rows pass unchanged); an unseen site can
            # still be brought onto it with unseen_site="estimate"
            self.grand_mean_ = data.mean(axis=0).to_numpy()
            self.pooled_var_ = ((data - self.grand_mean_) ** 2).mean(axis=0).to_numpy() + EPS
            self.gamma_ = np.zeros((len(self.sites_), width))
            self.delta_ = np.ones((len(self.sites_), width))
            return self
        small = {s: n for s, n in self.site_counts_.items() if n < 2}
        if small:
            raise HarmonisationError(f"harmonisation: site(s) {small} have fewer than 2 "
                                     "training cases; merge or drop them")
        from combatlearn.core import ComBatModel

        model = ComBatModel(method="johnson", parametric=True, mean_only=self.mean_only,
                            eps=EPS)
        model.fit(data, batch=pd.Series(site.to_numpy(), index=data.index))
        order = [str(level) for level in model._batch_levels]
        rows = [order.index(s) for s in self.sites_]
        self.grand_mean_ = np.asarray(model._grand_mean, dtype=float)
        self.pooled_var_ = np.asarray(model._pooled_var, dtype=float)
        self.gamma_ = np.asarray(model._gamma_star, dtype=float)[rows]
        self.delta_ = np.asarray(model._delta_star, dtype=float)[rows]
        return self

    # ------------------------------------------------------------------ transform
    def transform(self, X):
        """Every row with its site's training location and scale removed."""
        check_is_fitted(self, "sites_")
        frame = self._frame(X, reset=False)
        out = frame.to_numpy(dtype=float, copy=True)
        if not self.harmonised_.any():
            return out
        site = self._site_of(frame)
        values = out[:, self.harmonised_]
        z = (values - self.grand_mean_) / np.sqrt(self.pooled_var_)
        for name in pd.unique(site):
            rows = (site == name).to_numpy()
            gamma, delta = self._site_shift(name, z[rows], frame.index[rows])
            adjusted = z[rows] - gamma
            if not self.mean_only:
                adjusted = adjusted / np.sqrt(delta)
            values[rows] = adjusted * np.sqrt(self.pooled_var_) + self.grand_mean_
        out[:, self.harmonised_] = values
        return out

    def _site_shift(self, name: str, z: np.ndarray, ids: pd.Index
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(location, scale) of one site on the standardised scale."""
        if name in self.sites_:
            i = self.sites_.index(name)
            return self.gamma_[i], self.delta_[i]
        first = ids[0]
        if self.unseen_site != "estimate":
            raise HarmonisationError(
                f"case {first}, field 'site': site {name!r} was not in training "
                f"({', '.join(self.sites_)}); harmonisation.unseen_site is 'refuse'")
        if len(z) < self.min_site_cases:
            raise HarmonisationError(
                f"case {first}, field 'site': site {name!r} was not in training and has "
                f"{len(z)} case(s) here; estimating its shift needs at least "
                f"{self.min_site_cases} (harmonisation.min_site_cases)")
        delta = np.ones(z.shape[1]) if self.mean_only else z.var(axis=0, ddof=1) + EPS
        return z.mean(axis=0), delta

    # ------------------------------------------------------------------ helpers
    def _frame(self, X, *, reset: bool) -> pd.DataFrame:
        index = X.index if isinstance(X, pd.DataFrame) else None
        columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
        array = validate_data(self, X, reset=reset, dtype=np.float64,
                              ensure_all_finite=True)
        if columns is None:
            columns = [f"x{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, index=index, columns=columns)

    def _site_of(self, frame: pd.DataFrame) -> pd.Series:
        lookup = self.sites or {}
        return pd.Series([str(lookup.get(str(c), "(unknown)")) for c in frame.index],
                         index=frame.index)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "sites_")
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags


def harmonisers(estimator) -> list[SiteHarmoniser]:
    """Every :class:`SiteHarmoniser` inside a (nested) fitted pipeline."""
    if isinstance(estimator, SiteHarmoniser):
        return [estimator]
    found: list[SiteHarmoniser] = []
    for _, step in getattr(estimator, "steps", []):
        found += harmonisers(step)
    return found


def add_sites(estimator, sites: Mapping[str, str]) -> None:
    """Tell the harmonisers of a stored model the sites of new cases (``sonomics predict``):
    the fitted estimates are untouched; only the lookup of rows to sites grows."""
    for step in harmonisers(estimator):
        step.sites = {**(step.sites or {}), **{str(k): str(v) for k, v in sites.items()}}
