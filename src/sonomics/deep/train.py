"""Fine-tuning a backbone on ROI crops: the paper's transfer learning (section 2.5).

What it does, and why:

* **Validation carved from training only** (stratified, patient-grouped: no patient on
  both sides) for early stopping and the best checkpoint; the test set is never seen.
* **Class-weighted loss** (binary cross-entropy, each class weighted ``n / (2 n_c)`` on
  the training part) for the benign/malignant imbalance.
* **Cosine-decay learning rate** per step, with optional linear warm-up; AdamW or SGD.
* **Deterministic**: every epoch reseeds torch and the loader from ``(seed, epoch)``, so a
  resumed run draws the same batches and augmentations as an uninterrupted one.
* **Device**: see :mod:`sonomics.deep.runtime` (CUDA with autocast + channels_last, MPS,
  or every allowed CPU core).
* **Checkpoints**: ``best.safetensors`` (the best validation epoch's weights) and
  ``last_state.pt`` (model, optimizer, scheduler, history of the last finished epoch in one
  file, ``torch.save`` of plain state dicts, loaded with ``weights_only=True``; once training
  has finished it keeps only the history, as ``best.safetensors`` holds the weights). Both
  are copied to CPU at once and written atomically by a background thread, so the GPU never
  waits for the disk; a run killed at any point resumes from its last finished epoch when
  its inputs and settings (a fingerprint) are unchanged.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import StratifiedGroupKFold
from torch.utils.data import DataLoader

from sonomics.deep.backbones import BackboneNet, build_backbone
from sonomics.deep.dataset import CropDataset
from sonomics.deep.preprocess import (
    Normaliser,
    batch_tensor,
    build_augmentation,
    to_network_input,
)
from sonomics.deep.runtime import (
    autocast_dtype,
    configure_threads,
    loader_workers,
    resolve_device,
    seed_everything,
)
from sonomics.evaluation.delong import safe_auc
from sonomics.io import stable_hash
from sonomics.progress import progress_bar
from sonomics.torch_io import cpu_copy, read_state, read_weights, write_state, write_weights

log = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    """The training knobs (from ``cfg.deep`` via :meth:`from_config`)."""

    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup_epochs: int = 0
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    early_stopping: int = 8
    input_size: int = 224
    vertical_flip: bool = False
    normalisation: str = "per_image"
    device: str = "auto"
    seed: int = 42
    num_workers: int | None = None  # None = sized from the device and the CPU count

    @classmethod
    def from_config(cls, deep, seed: int = 42) -> TrainSettings:
        """Settings from a :class:`sonomics.config.DeepConfig`."""
        names = {f for f in cls.__dataclass_fields__ if f not in ("seed", "num_workers")}
        return cls(**{n: getattr(deep, n) for n in names}, seed=seed)


@dataclass
class TrainResult:
    """A trained backbone (best validation checkpoint loaded) and how it got there."""

    name: str
    model: BackboneNet
    normaliser: Normaliser
    history: pd.DataFrame
    best_epoch: int
    val_auc: float
    train_idx: np.ndarray
    val_idx: np.ndarray
    device: torch.device
    weights_source: str
    epoch_seconds: list[float] = field(default_factory=list)
    resumed_from: int = 0

    @property
    def pretrained(self) -> bool:
        return self.weights_source != "random"


# ---------------------------------------------------------------- pieces
def validation_split(labels: np.ndarray, groups: np.ndarray, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``: stratified by label, grouped by patient, ~``fraction`` val."""
    labels = np.asarray(labels).astype(int)
    groups = np.asarray(groups)
    n_splits = max(2, int(round(1.0 / fraction)))
    per_class = min(np.bincount(labels, minlength=2))
    n_groups = len(np.unique(groups))
    if per_class < 2 or n_groups < n_splits:
        raise ValueError(f"deep.val_fraction: {len(labels)} training cases ({per_class} in the "
                         f"smaller class, {n_groups} patients) are too few for a "
                         f"{fraction:.0%} stratified validation split")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return np.sort(train_idx), np.sort(val_idx)


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Per-class weights ``n / (2 n_c)`` (balanced), as a tensor ``[w0, w1]``."""
    counts = np.bincount(np.asarray(labels).astype(int), minlength=2).astype(float)
    counts[counts == 0] = 1.0
    return torch.tensor(counts.sum() / (2.0 * counts), dtype=torch.float32)


def cosine_lambda(total_steps: int, warmup_steps: int = 0, floor: float = 0.01):
    """LR multiplier per step: linear warm-up, then cosine decay to ``floor``."""
    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def make_optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                 weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=0.9,
                               nesterov=True, weight_decay=settings.weight_decay)
    raise ValueError(f"config key 'deep.optimizer': must be 'adamw' or 'sgd' "
                     f"(got {settings.optimizer!r})")


def network_batch(crops: np.ndarray, normaliser: Normaliser,
                  device: torch.device) -> torch.Tensor:
    """Raw crops ``(n, S, S)`` (or ``(n, 2, S, S)`` with a mask channel) -> the network's
    ``(n, 3, S, S)`` on ``device`` (test-time path)."""
    return to_network_input(batch_tensor(crops).to(device, non_blocking=True), normaliser)


@torch.inference_mode()
def predict_logits(model: BackboneNet, crops: np.ndarray, normaliser: Normaliser, *,
                   batch_size: int = 64, device: torch.device | None = None) -> np.ndarray:
    """Logits for raw crops (normalisation only), in bounded-memory batches."""
    device = device or next(model.parameters()).device
    model.eval()
    dtype = autocast_dtype(device)
    out = np.empty(len(crops), dtype=np.float32)
    for start in range(0, len(crops), batch_size):
        stop = min(len(crops), start + batch_size)
        x = network_batch(crops[start:stop], normaliser, device)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out[start:stop] = model(x).float().cpu().numpy()
    return out


def predict_proba(model: BackboneNet, crops: np.ndarray, normaliser: Normaliser, *,
                  batch_size: int = 64, device: torch.device | None = None) -> np.ndarray:
    """Probability of the positive (malignant) class for each crop."""
    logits = predict_logits(model, crops, normaliser, batch_size=batch_size, device=device)
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


# ---------------------------------------------------------------- checkpoints
def _fingerprint(name: str, settings: TrainSettings, crops: np.ndarray, labels: np.ndarray,
                 groups: np.ndarray, weights_source: str) -> str:
    """Key of a training run's inputs and settings; a checkpoint resumes only on a match."""
    public = {k: v for k, v in asdict(settings).items() if k not in ("device", "num_workers")}
    return stable_hash({"name": name, "settings": public, "weights": weights_source,
                        "crops": np.asarray(crops), "labels": np.asarray(labels).astype(np.int8),
                        "groups": [str(g) for g in groups]})[:20]


# ---------------------------------------------------------------- training
def train_backbone(name: str, crops: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                   settings: TrainSettings, *, checkpoint_dir: str | Path | None = None,
                   weights_path: str | Path | None = None, pretrained: bool = True,
                   progress: bool = True, max_steps: int | None = None) -> TrainResult:
    """Fine-tune backbone ``name`` on the TRAINING crops; keep the best validation epoch.

    Args:
        name: a :data:`~sonomics.deep.backbones.BACKBONES` key.
        crops: ``(n, S, S)`` raw ROI crops of the training cases only.
        labels: ``(n,)`` 0/1.
        groups: ``(n,)`` patient ids (the validation split never splits a patient).
        settings: :class:`TrainSettings`.
        checkpoint_dir: where ``last``/``best`` checkpoints go; a matching ``last`` resumes.
        weights_path: local ImageNet weight file for the backbone.
        pretrained: False builds the backbone with random weights on purpose.
        progress: show a rich progress bar.
        max_steps: stop each epoch after this many steps (tests and benchmarks).
    """
    labels = np.asarray(labels).astype(int)
    groups = np.asarray(groups).astype(str)
    device = resolve_device(settings.device)
    configure_threads(device)
    seed_everything(settings.seed)
    model = build_backbone(name, weights_path=weights_path, pretrained=pretrained)
    train_idx, val_idx = validation_split(labels, groups, settings.val_fraction, settings.seed)
    normaliser = Normaliser(settings.normalisation).fit(crops[train_idx])

    augment = build_augmentation(settings.input_size, vertical_flip=settings.vertical_flip)
    train_ds = CropDataset(crops[train_idx], labels[train_idx], normaliser, augment)
    workers = loader_workers(device, settings.num_workers)
    steps_per_epoch = len(train_ds) // settings.batch_size + (
        1 if len(train_ds) % settings.batch_size > 1 else 0)
    drop_last = len(train_ds) % settings.batch_size == 1  # BatchNorm cannot take a batch of 1
    if max_steps is not None:
        steps_per_epoch = min(steps_per_epoch, max_steps)

    channels_last = device.type == "cuda"
    model = model.to(device, memory_format=torch.channels_last if channels_last else
                     torch.preserve_format)
    optimizer = make_optimizer(model, settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_lambda(
        settings.epochs * steps_per_epoch, settings.warmup_epochs * steps_per_epoch))
    weights = class_weights(labels[train_idx]).to(device)
    amp_dtype = autocast_dtype(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = _fingerprint(name, settings, crops, labels, groups, model.weights_source)
    history: list[dict[str, float]] = []
    best_score, best_epoch, stale, start_epoch = -math.inf, 0, 0, 0
    if ckpt is not None and (ckpt / "last_state.pt").is_file():
        state = read_state(ckpt / "last_state.pt")
        if state.get("fingerprint") == fingerprint:
            if "model" in state:  # a finished run's record keeps no weights: best.safetensors
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
            history = list(state["history"])
            best_score, best_epoch = float(state["best_score"]), int(state["best_epoch"])
            stale, start_epoch = int(state["stale"]), int(state["epoch"])
            log.info("%s: resuming from epoch %d (%s)", name, start_epoch, ckpt)
        else:
            log.info("%s: checkpoint in %s is for other inputs/settings; starting afresh",
                     name, ckpt)
    resumed_from = start_epoch
    done = start_epoch >= settings.epochs or (start_epoch > 0 and
                                             stale >= settings.early_stopping)

    bar = progress_bar(enabled=progress)
    epoch_seconds: list[float] = []
    pending: list = []
    # checkpoints are copied to CPU at once and written by one background thread, in order,
    # so the GPU does not wait for the disk; leaving the block waits for the last write
    with bar, ThreadPoolExecutor(max_workers=1, thread_name_prefix="ckpt") as writer:
        task = bar.add_task(name, total=(settings.epochs - start_epoch) * steps_per_epoch)
        epoch = start_epoch
        while not done:
            tic = time.perf_counter()
            torch.manual_seed(settings.seed * 1009 + epoch)
            generator = torch.Generator().manual_seed(settings.seed * 1009 + epoch)
            loader = DataLoader(train_ds, batch_size=settings.batch_size, shuffle=True,
                                generator=generator, num_workers=workers, drop_last=drop_last,
                                pin_memory=device.type == "cuda",
                                persistent_workers=False)
            model.train()
            total, seen = torch.zeros((), device=device), 0  # summed on device: no sync
            for step, (x, y) in enumerate(loader):
                if step >= steps_per_epoch:
                    break
                x = x.to(device, non_blocking=True)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = y.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    logits = model(x).float()
                loss_each = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, y, reduction="none")
                loss = (loss_each * weights[y.long()]).mean()
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                total += loss.detach() * len(y)
                seen += len(y)
                bar.update(task, advance=1)
            train_loss = float(total) / max(seen, 1)
            val_logits = predict_logits(model, crops[val_idx], normaliser,
                                        batch_size=max(settings.batch_size, 32), device=device)
            val_y = labels[val_idx]
            val_loss = float(torch.nn.functional.binary_cross_entropy_with_logits(
                torch.from_numpy(val_logits), torch.from_numpy(val_y.astype(np.float32))))
            val_auc = safe_auc(val_y, val_logits)
            epoch += 1
            score = val_auc if not math.isnan(val_auc) else -val_loss
            improved = score > best_score + 1e-6
            if improved:
                best_score, best_epoch, stale = score, epoch, 0
                if ckpt is not None:
                    pending.append(writer.submit(write_weights, cpu_copy(model.state_dict()),
                                                 ckpt / "best.safetensors"))
                else:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            seconds = time.perf_counter() - tic
            epoch_seconds.append(seconds)
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "val_auc": val_auc, "lr": optimizer.param_groups[0]["lr"],
                            "seconds": seconds})
            bar.update(task, description=(f"{name} {epoch}/{settings.epochs} loss "
                                          f"{train_loss:.3f} val AUC {val_auc:.3f}"))
            log.info("%s epoch %d: loss %.4f, val loss %.4f, val AUC %.3f (%.1f s)", name,
                     epoch, train_loss, val_loss, val_auc, seconds)
            done = epoch >= settings.epochs or stale >= settings.early_stopping
            if ckpt is not None:
                # one file, so model, optimizer and epoch can never disagree after a kill
                state = {"fingerprint": fingerprint, "epoch": epoch, "history": list(history),
                         "best_score": best_score, "best_epoch": best_epoch, "stale": stale}
                if not (done and best_epoch):
                    # resuming needs weights and optimizer; a finished run with a best
                    # checkpoint does not, and dropping them saves 3x the model on disk
                    state |= {"model": cpu_copy(model.state_dict()),
                              "optimizer": cpu_copy(optimizer.state_dict()),
                              "scheduler": copy.deepcopy(scheduler.state_dict())}
                pending.append(writer.submit(write_state, state, ckpt / "last_state.pt"))

    for future in pending:
        future.result()  # a failed checkpoint write is an error, not a silent loss
    if ckpt is not None and (ckpt / "best.safetensors").is_file():
        read_weights(model, ckpt / "best.safetensors")
    elif best_epoch:
        model.load_state_dict(best_state)
    model.eval()
    frame = pd.DataFrame(history, columns=["epoch", "train_loss", "val_loss", "val_auc", "lr",
                                           "seconds"])
    val_auc = float(frame.loc[frame["epoch"] == best_epoch, "val_auc"].iloc[0]) \
        if best_epoch else float("nan")
    return TrainResult(name, model, normaliser, frame, best_epoch, val_auc, train_idx, val_idx,
                       device, model.weights_source, epoch_seconds, resumed_from)
