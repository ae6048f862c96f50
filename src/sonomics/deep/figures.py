"""Figures of CNN training: loss and validation AUC per epoch (Supplementary Figure 5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sonomics.io import save_figure


def plot_training_curve(history: pd.DataFrame, path: str | Path, *, title: str = "",
                        best_epoch: int | None = None) -> Path:
    """Training/validation loss and validation AUC per epoch, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_auc) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax_loss.plot(history["epoch"], history["train_loss"], "o-", label="training (weighted)")
    ax_loss.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("BCE loss")
    ax_loss.legend(frameon=False)
    ax_auc.plot(history["epoch"], history["val_auc"], "o-", color="C2")
    ax_auc.set_xlabel("epoch")
    ax_auc.set_ylabel("validation AUC")
    ax_auc.set_ylim(0, 1.02)
    for ax in (ax_loss, ax_auc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    saved = save_figure(fig, path)
    plt.close(fig)
    return saved
