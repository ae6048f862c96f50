"""Grad-CAM overlays for representative test cases, as the paper's Figure 3.

pytorch-grad-cam is pointed at :attr:`BackboneNet.cam_layer`, the out-of-place activation
after the last convolutional block. That module exists because torchvision's DenseNet
applies ``F.relu(inplace=True)`` to its last block's output, which overwrites the tensor
the library hooks and breaks the backward pass (pytorch-grad-cam issue #147).

Each map explains the *predicted* class (malignant evidence for a positive call, benign
evidence for a negative one) and is drawn over the cropped, resized ROI the network saw.
The representative case of each outcome (TP/FP/TN/FN at the training-chosen cut-off, i.e.
:func:`sonomics.evaluation.metrics.youden_threshold` of the training predictions) is
the one whose score is the median of its group: typical, not the most extreme.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sonomics.deep.backbones import BackboneNet
from sonomics.deep.preprocess import Normaliser, batch_tensor, image_plane, to_network_input
from sonomics.io import save_figure

OUTCOMES = ("TP", "FP", "TN", "FN")


def gradcam_heatmaps(model: BackboneNet, crops: np.ndarray, normaliser: Normaliser,
                     categories: np.ndarray | None = None) -> np.ndarray:
    """Grad-CAM maps in [0, 1], ``(n, S, S)``, for raw crops ``(n, S, S)``.

    ``categories`` (0/1 per crop) picks the class explained; default: the predicted class.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    device = next(model.parameters()).device
    x = to_network_input(batch_tensor(crops), normaliser)
    x = x.to(device)
    model.eval()
    if categories is None:
        with torch.no_grad():
            categories = (model(x) > 0).long().cpu().numpy()
    targets = [BinaryClassifierOutputTarget(int(c)) for c in categories]
    with GradCAM(model=model, target_layers=[model.cam_layer]) as cam:
        maps = cam(input_tensor=x, targets=targets)
    return np.asarray(maps, dtype=np.float32)


def representative_cases(y: np.ndarray, score: np.ndarray, cutoff: float) -> dict[str, int]:
    """Index of the median-score case of each outcome present (TP, FP, TN, FN)."""
    y = np.asarray(y).astype(int)
    pred = (np.asarray(score) >= cutoff).astype(int)
    groups = {"TP": (y == 1) & (pred == 1), "FP": (y == 0) & (pred == 1),
              "TN": (y == 0) & (pred == 0), "FN": (y == 1) & (pred == 0)}
    chosen: dict[str, int] = {}
    for name, members in groups.items():
        idx = np.flatnonzero(members)
        if idx.size:
            order = idx[np.argsort(score[idx], kind="stable")]
            chosen[name] = int(order[(len(order) - 1) // 2])
    return chosen


def plot_gradcam_figure(crops: np.ndarray, heatmaps: np.ndarray, titles: list[str],
                        path: str | Path, *, suptitle: str = "") -> Path:
    """Image (top) and Grad-CAM overlay (bottom) per case; PNG. Crops with a mask channel
    show the ROI outline (white) on the overlay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    masks = crops[:, 1] if crops.ndim == 4 else None
    crops = image_plane(crops)
    n = max(1, len(crops))
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 5.4), squeeze=False)
    for i in range(n):
        top, bottom = axes[0, i], axes[1, i]
        if i < len(crops):
            img = crops[i]
            lo, hi = np.percentile(img, [1, 99])
            shown = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
            top.imshow(shown, cmap="gray", vmin=0, vmax=1)
            bottom.imshow(shown, cmap="gray", vmin=0, vmax=1)
            bottom.imshow(heatmaps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            if masks is not None and masks[i].max() > 0.5:
                bottom.contour(masks[i], levels=[0.5], colors="white", linewidths=0.8)
            top.set_title(titles[i], fontsize=9)
        else:
            top.text(0.5, 0.5, "no case", ha="center", va="center")
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    saved = save_figure(fig, path)
    plt.close(fig)
    return saved


def gradcam_figure(model: BackboneNet, crops: np.ndarray, normaliser: Normaliser,
                   y: np.ndarray, score: np.ndarray, cutoff: float, path: str | Path, *,
                   case_ids: list[str] | None = None, title: str = "") -> dict[str, str]:
    """Figure 3: Grad-CAM of the representative TP/FP/TN/FN cases; returns outcome -> case id."""
    chosen = representative_cases(y, score, cutoff)
    order = [k for k in OUTCOMES if k in chosen]
    idx = np.array([chosen[k] for k in order], dtype=int)
    if idx.size == 0:
        raise ValueError("Grad-CAM: no test case to show")
    preds = (np.asarray(score)[idx] >= cutoff).astype(int)
    maps = gradcam_heatmaps(model, crops[idx], normaliser, categories=preds)
    ids = case_ids if case_ids is not None else [str(i) for i in range(len(crops))]
    titles = [f"{k}: {ids[i]}\np(malignant) = {score[i]:.2f}" for k, i in zip(order, idx,
                                                                             strict=True)]
    plot_gradcam_figure(crops[idx], maps, titles, path, suptitle=title)
    return {k: ids[i] for k, i in zip(order, idx, strict=True)}
