"""Training the segmenter on the TRAINING cases' reader-1 masks.

Dice + binary cross-entropy, AdamW, a cosine learning-rate schedule, early stopping on a
validation carve-out of the training set grouped by patient (and near-duplicate group),
and one checkpoint per epoch written atomically, so a killed run resumes where it
stopped. Augmentation suits ultrasound: horizontal flips, contrast and brightness jitter,
and, with a box prompt, a jittered box (a clinician's two clicks are never exact); no
vertical flip (the transducer is at the top).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from sonomics.io import stable_hash
from sonomics.progress import progress_bar
from sonomics.segment.geometry import (
    Box,
    frame_of,
    mask_box,
    network_input,
    network_target,
)
from sonomics.segment.metrics import dice
from sonomics.segment.network import build_segmenter
from sonomics.torch_io import read_state, read_weights, write_state, write_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentSettings:
    """What one training run depends on (from ``segment:`` and the study's seed)."""

    architecture: str = "unet-resnet18"
    input_size: int = 256
    box_prompt: bool = False
    box_margin: float = 0.25
    epochs: int = 40
    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    early_stopping: int = 8
    val_fraction: float = 0.15
    seed: int = 42
    device: str = "auto"

    @classmethod
    def from_config(cls, segment, seed: int) -> SegmentSettings:
        fields = {k: getattr(segment, k) for k in cls.__dataclass_fields__ if k != "seed"}
        return cls(**fields, seed=seed)


@dataclass
class TrainedSegmenter:
    model: torch.nn.Module
    settings: SegmentSettings
    history: pd.DataFrame
    best_epoch: int
    val_dice: float
    resumed_from: int


class SegmentationSet(Dataset):
    """Images and masks framed for the network (whole image, or a box with context)."""

    def __init__(self, images: list[np.ndarray], masks: list[np.ndarray],
                 settings: SegmentSettings, train: bool) -> None:
        self.images, self.masks, self.settings, self.train = images, masks, settings, train
        self.boxes = [mask_box(m) for m in masks]
        # whole-image frames never change: resample each image once, not once per epoch
        self.fixed = None if settings.box_prompt else [
            (network_input(img, frame_of(img.shape, None, 0.0), settings.input_size),
             network_target(m, frame_of(img.shape, None, 0.0), settings.input_size))
            for img, m in zip(images, masks, strict=True)]

    def __len__(self) -> int:
        return len(self.images)

    def _box(self, i: int, rng: np.random.Generator) -> Box | None:
        if not self.settings.box_prompt:
            return None
        x0, y0, x1, y1 = self.boxes[i]
        if self.train:  # a clinician's box is loose by up to ~10% of its size per edge
            w, h = x1 - x0, y1 - y0
            x0, x1 = x0 + rng.uniform(-0.1, 0.05) * w, x1 + rng.uniform(-0.05, 0.1) * w
            y0, y1 = y0 + rng.uniform(-0.1, 0.05) * h, y1 + rng.uniform(-0.05, 0.1) * h
        rows, cols = self.images[i].shape
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(float(cols), max(x1, x0 + 1)), min(float(rows), max(y1, y0 + 1))
        return x0, y0, x1, y1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(torch.randint(0, 2**31 - 1, ()).item()) if self.train \
            else np.random.default_rng(i)
        if self.fixed is not None:
            x, y = self.fixed[i]
        else:
            frame = frame_of(self.images[i].shape, self._box(i, rng), self.settings.box_margin)
            x = network_input(self.images[i], frame, self.settings.input_size)
            y = network_target(self.masks[i], frame, self.settings.input_size)
        if self.train:
            if rng.random() < 0.5:
                x, y = x[:, ::-1], y[:, ::-1]
            x = x * rng.uniform(0.8, 1.2) + rng.uniform(-0.2, 0.2)
        return (torch.from_numpy(np.ascontiguousarray(x))[None],
                torch.from_numpy(np.ascontiguousarray(y))[None])


def validation_split(groups: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` with no patient (or near-duplicate group) on both sides."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.asarray(groups).astype(str)
    if len(np.unique(groups)) < 4:
        raise ValueError(f"segment.val_fraction: {len(np.unique(groups))} training patients "
                         "are too few for a validation carve-out")
    split = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    train_idx, val_idx = next(split.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train_idx), np.sort(val_idx)


def _fingerprint(settings: SegmentSettings, images: list[np.ndarray], masks: list[np.ndarray],
                 groups: np.ndarray, weights: str) -> str:
    public = {k: v for k, v in asdict(settings).items() if k != "device"}
    return stable_hash({"settings": public, "weights": weights, "groups": [str(g) for g in
                                                                             groups],
                        "images": [stable_hash(np.ascontiguousarray(a)) for a in images],
                        "masks": [stable_hash(np.ascontiguousarray(m)) for m in masks]})[:20]


def _device(name: str) -> torch.device:
    from sonomics.deep.runtime import configure_threads, resolve_device

    device = resolve_device(name)
    configure_threads(device)
    return device


@torch.no_grad()
def network_probabilities(model: torch.nn.Module, inputs: np.ndarray, batch_size: int = 16,
                          device: torch.device | None = None) -> np.ndarray:
    """Sigmoid probabilities of ``(n, S, S)`` network inputs."""
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    for start in range(0, len(inputs), batch_size):
        x = torch.from_numpy(inputs[start:start + batch_size])[:, None].to(device)
        out.append(torch.sigmoid(model(x)).float().cpu().numpy()[:, 0])
    return np.concatenate(out) if out else np.zeros((0,) * 3, np.float32)


def train_segmenter(images: list[np.ndarray], masks: list[np.ndarray], groups: np.ndarray,
                    settings: SegmentSettings, *, checkpoint_dir: str | Path | None = None,
                    weights: str | Path | None = None, progress: bool = True
                    ) -> TrainedSegmenter:
    """Learn a segmenter from TRAINING images and their reader-1 masks (never test ones)."""
    from sonomics.deep.runtime import seed_everything

    device = _device(settings.device)
    seed_everything(settings.seed)
    model = build_segmenter(settings.architecture, weights).to(device)
    train_idx, val_idx = validation_split(groups, settings.val_fraction, settings.seed)
    train_set = SegmentationSet([images[i] for i in train_idx], [masks[i] for i in train_idx],
                                settings, train=True)
    val_set = SegmentationSet([images[i] for i in val_idx], [masks[i] for i in val_idx],
                              settings, train=False)
    val_x = np.stack([val_set[i][0].numpy()[0] for i in range(len(val_set))])
    val_y = np.stack([val_set[i][1].numpy()[0] for i in range(len(val_set))]) > 0.5
    drop_last = len(train_set) % settings.batch_size == 1  # BatchNorm needs 2 per batch
    steps = len(train_set) // settings.batch_size + (0 if drop_last or not len(train_set) %
                                                     settings.batch_size else 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, settings.epochs * steps), eta_min=settings.learning_rate * 0.01)
    from segmentation_models_pytorch.losses import DiceLoss

    dice_loss = DiceLoss(mode="binary", from_logits=True)
    bce = torch.nn.BCEWithLogitsLoss()

    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = _fingerprint(settings, images, masks, groups, str(weights or "random"))
    history: list[dict] = []
    best, best_epoch, stale, epoch = -math.inf, 0, 0, 0
    best_state = None
    if ckpt is not None and (ckpt / "last_state.pt").is_file():
        state = read_state(ckpt / "last_state.pt")
        if state.get("fingerprint") == fingerprint:
            if "model" in state:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
            history, best = list(state["history"]), float(state["best"])
            best_epoch, stale, epoch = int(state["best_epoch"]), int(state["stale"]), \
                int(state["epoch"])
            log.info("segmenter: resuming after epoch %d (%s)", epoch, ckpt)
    resumed_from = epoch
    done = epoch >= settings.epochs or (epoch > 0 and stale >= settings.early_stopping)
    bar = progress_bar(enabled=progress)
    with bar:
        task = bar.add_task("segmenter", total=max(0, settings.epochs - epoch) * steps)
        while not done:
            tic = time.perf_counter()
            torch.manual_seed(settings.seed * 7919 + epoch)
            loader = DataLoader(train_set, batch_size=settings.batch_size, shuffle=True,
                                drop_last=drop_last,
                                generator=torch.Generator().manual_seed(settings.seed + epoch))
            model.train()
            total, seen = 0.0, 0
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                logits = model(x)
                loss = dice_loss(logits, y) + bce(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total, seen = total + float(loss.detach()) * len(x), seen + len(x)
                bar.update(task, advance=1)
            prob = network_probabilities(model, val_x, device=device)
            val_dice = float(np.mean([dice(p >= 0.5, t) for p, t in zip(prob, val_y,
                                                                        strict=True)]))
            epoch += 1
            if val_dice > best + 1e-6:
                best, best_epoch, stale = val_dice, epoch, 0
                weights_now = {k: v.detach().cpu().contiguous().clone()
                               for k, v in model.state_dict().items()}
                if ckpt is not None:
                    write_weights(weights_now, ckpt / "best.safetensors")
                best_state = weights_now
            else:
                stale += 1
            history.append({"epoch": epoch, "train_loss": total / max(seen, 1),
                            "val_dice": val_dice, "lr": optimizer.param_groups[0]["lr"],
                            "seconds": time.perf_counter() - tic})
            bar.update(task, description=f"segmenter {epoch}/{settings.epochs} val Dice "
                                         f"{val_dice:.3f}")
            done = epoch >= settings.epochs or stale >= settings.early_stopping
            if ckpt is not None:
                state = {"fingerprint": fingerprint, "epoch": epoch, "history": history,
                         "best": best, "best_epoch": best_epoch, "stale": stale}
                if not done:
                    state |= {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "scheduler": copy.deepcopy(scheduler.state_dict())}
                write_state(state, ckpt / "last_state.pt")
    if ckpt is not None and (ckpt / "best.safetensors").is_file():
        read_weights(model, ckpt / "best.safetensors")
    elif best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    frame = pd.DataFrame(history, columns=["epoch", "train_loss", "val_dice", "lr", "seconds"])
    val = float(frame.loc[frame["epoch"] == best_epoch, "val_dice"].iloc[0]) if best_epoch \
        else float("nan")
    return TrainedSegmenter(model, settings, frame, best_epoch, val, resumed_from)
