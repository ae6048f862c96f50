"""Deep features: the trained CNN's penultimate layer, compressed by PCA fitted on training.

The paper takes the transfer-learned DenseNet121's features (the flattened last feature
map, 1024 x 7 x 7 = 50,176 values at 224 px) and reduces them to 512 with PCA (section
2.6). Here the default is the global-average-pooled layer (1024 values for DenseNet121);
``feature_map=True`` gives the flattened map. PCA is a scikit-learn transformer fitted on
TRAINING cases only and applied to the others; with fewer training cases than components
it keeps ``n_train - 1`` (the rank of centred data), never a component of pure noise.

Inference runs in batches into a preallocated array, so memory stays at one batch of
activations plus the ``n x d`` output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_is_fitted, validate_data

from sonomics.deep.backbones import BackboneNet
from sonomics.deep.preprocess import Normaliser
from sonomics.deep.runtime import autocast_dtype
from sonomics.deep.train import network_batch


@torch.inference_mode()
def extract_deep_features(model: BackboneNet, crops: np.ndarray, normaliser: Normaliser, *,
                          feature_map: bool = False, batch_size: int = 32,
                          device: torch.device | None = None) -> np.ndarray:
    """``(n, d)`` float32 features: GAP output, or the flattened last feature map."""
    device = device or next(model.parameters()).device
    model.eval()
    dtype = autocast_dtype(device)
    out: np.ndarray | None = None
    for start in range(0, len(crops), batch_size):
        stop = min(len(crops), start + batch_size)
        x = network_batch(crops[start:stop], normaliser, device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            feats = model.feature_map(x).flatten(1) if feature_map else model.embed(x)
        feats = feats.float().cpu().numpy()
        if out is None:
            out = np.empty((len(crops), feats.shape[1]), dtype=np.float32)
        out[start:stop] = feats
    if out is None:
        dim = model.feature_dim
        return np.zeros((0, dim), dtype=np.float32)
    return out


class CappedPCA(TransformerMixin, BaseEstimator):
    """PCA to ``n_components``, or fewer when the training data cannot support them.

    Fitted components: ``min(n_components, n_samples - 1, n_features)`` (at least 1);
    ``n_components_`` says how many were kept and ``capped_`` whether that is fewer than
    asked.

    >>> import numpy as np
    >>> pca = CappedPCA(n_components=512).fit(np.random.default_rng(0).normal(size=(20, 50)))
    >>> pca.n_components_, pca.capped_
    (19, True)
    """

    def __init__(self, n_components: int = 512, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        if not isinstance(self.n_components, int | np.integer) or self.n_components < 1:
            raise ValueError(f"config key 'deep.pca_components': must be a positive integer "
                             f"(got {self.n_components!r})")
        n_samples, n_features = X.shape
        k = max(1, min(int(self.n_components), n_samples - 1, n_features))
        self.pca_ = PCA(n_components=k, svd_solver="full" if k >= min(X.shape) else "auto",
                        random_state=self.random_state).fit(X)
        self.n_components_ = k
        self.capped_ = k < self.n_components
        self.explained_variance_ratio_ = self.pca_.explained_variance_ratio_
        return self

    def transform(self, X):
        check_is_fitted(self, "pca_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.pca_.transform(X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "pca_")
        return np.array([f"pc{i + 1:03d}" for i in range(self.n_components_)], dtype=object)


def deep_feature_table(case_ids, features: np.ndarray, train_mask: np.ndarray, *,
                       n_components: int = 512, prefix: str = "deep",
                       random_state: int | None = 0) -> tuple[pd.DataFrame, CappedPCA]:
    """PCA-compressed deep features keyed by case id; PCA fitted on ``train_mask`` rows only.

    Returns the table (index ``case_id``, columns ``<prefix>_pc001`` ...) and the fitted PCA.
    """
    train_mask = np.asarray(train_mask, dtype=bool)
    if train_mask.sum() < 2:
        raise ValueError("deep features: PCA needs at least 2 training cases "
                         f"(got {int(train_mask.sum())})")
    pca = CappedPCA(n_components=n_components, random_state=random_state)
    pca.fit(features[train_mask])
    return pca_feature_frame(pca, features, case_ids, prefix), pca


def pca_feature_frame(pca: CappedPCA, features: np.ndarray, case_ids, prefix: str
                      ) -> pd.DataFrame:
    """Deep features of cases through a fitted PCA, named ``<prefix>_pc001`` ... (float32).

    The one way deep features are named and rounded: the study's training and test cases
    and ``sonomics predict``'s new cases all go through it.
    """
    values = pca.transform(features).astype(np.float32)
    columns = [f"{prefix}_{name}" for name in pca.get_feature_names_out()]
    return pd.DataFrame(values, index=pd.Index(list(map(str, case_ids)), name="case_id"),
                        columns=columns)
