"""Self-supervised pretraining of a backbone on unlabelled images (SimCLR), for machines
where no ImageNet weights can be fetched.

The paper fine-tunes ImageNet weights; from random weights a CNN must learn edges and
textures from a few hundred labelled lesions. SimCLR (Chen et al., ICML 2020) teaches the
trunk those first from images alone: two random views of each image (crop, flip,
brightness/contrast, blur) must map close together and far from every other image's
views (the NT-Xent loss). Only images are used, never labels, and in a study only the
TRAINING cases' ROI crops (plus, when asked, a folder of the user's own unlabelled
ultrasound images); ``deep/pretrain_images.csv`` lists every image the pretraining saw.

The result is a plain :class:`~sonomics.deep.backbones.BackboneNet` state dict
(safetensors), which any later study can start from with ``deep.weights``. Checkpoints
resume like the fine-tuning's: ``last_state.pt`` after every epoch, written atomically;
a killed run continues from its last finished epoch when its images and settings match.
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
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from sonomics.deep.backbones import BackboneNet, build_backbone
from sonomics.deep.preprocess import Normaliser, image_plane, to_network_input
from sonomics.deep.runtime import configure_threads, resolve_device, seed_everything
from sonomics.io import stable_hash
from sonomics.progress import progress_bar
from sonomics.torch_io import cpu_copy, read_state, write_state, write_weights

log = logging.getLogger(__name__)

__all__ = ["PretrainSettings", "nt_xent", "pretrain_backbone", "read_folder_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm")


@dataclass
class PretrainSettings:
    """SimCLR knobs (from ``cfg.deep.pretrain``)."""

    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-6
    temperature: float = 0.5
    projection_dim: int = 128
    input_size: int = 128
    seed: int = 42
    device: str = "auto"


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy for ``n`` pairs of projections.

    Each of the ``2n`` views must pick its partner among the other ``2n - 1`` by cosine
    similarity / temperature; the loss is the mean cross-entropy of that choice.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), -math.inf)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)


class _Views(Dataset):
    """Two random views of each grey image, as network inputs."""

    def __init__(self, images: np.ndarray, input_size: int) -> None:
        grey = image_plane(np.asarray(images, dtype=np.float32))
        lo = grey.min(axis=(1, 2), keepdims=True)
        span = np.maximum(grey.max(axis=(1, 2), keepdims=True) - lo, 1e-6)
        self.images = torch.from_numpy(np.ascontiguousarray((grey - lo) / span))  # [0, 1]
        self.normaliser = Normaliser("per_image")
        # no vertical flip (shadowing stays below the lesion); jitter and blur stand in
        # for gain, dynamic range and speckle differing between scanners
        self.augment = v2.Compose([
            v2.RandomResizedCrop(input_size, scale=(0.3, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.4, contrast=0.4),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.5),
        ])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index][None]
        return tuple(to_network_input(self.augment(x), self.normaliser) for _ in range(2))


class _SimCLR(nn.Module):
    def __init__(self, backbone: BackboneNet, projection_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        d = backbone.feature_dim
        self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, projection_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone.embed(x))


def read_folder_images(folder: str | Path, size: int) -> tuple[np.ndarray, list[str]]:
    """Every readable image under ``folder`` (recursively), whole, resized to ``size``;
    unreadable files are skipped with a warning. Returns the images and their paths."""
    from sonomics.data.images import ImageReadError, read_image
    from sonomics.deep.preprocess import resize

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"config key 'deep.pretrain.folder': not a folder: {folder}")
    arrays, paths = [], []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            arrays.append(resize(read_image(path).array, size))
            paths.append(str(path))
        except (ImageReadError, ValueError, OSError) as exc:
            log.warning("pretraining: %s skipped: %s", path, exc)
    empty = np.zeros((0, size, size), np.float32)
    return (np.stack(arrays).astype(np.float32) if arrays else empty), paths


def pretrain_backbone(name: str, images: np.ndarray, settings: PretrainSettings, *,
                      checkpoint_dir: str | Path, out_file: str | Path, progress: bool = True,
                      max_steps: int | None = None) -> pd.DataFrame:
    """SimCLR-pretrain backbone ``name`` (random start) on ``images`` and write its weights
    to ``out_file`` (a ``deep.weights`` file); returns the loss per epoch.

    Args:
        images: ``(n, S, S)`` (or with a mask channel: only the image is used) unlabelled
            images; the caller decides which (a study passes its training crops only).
        checkpoint_dir: ``last_state.pt`` after every epoch; a matching one resumes.
        max_steps: cap the steps per epoch (tests).
    """
    if len(images) < 4:
        raise ValueError(f"deep.pretrain: {len(images)} images are too few for contrastive "
                         "pretraining (at least 4)")
    device = resolve_device(settings.device)
    configure_threads(device)
    seed_everything(settings.seed)
    model = _SimCLR(build_backbone(name, pretrained=False), settings.projection_dim).to(device)
    data = _Views(images, settings.input_size)
    batch = min(settings.batch_size, len(data))
    steps = len(data) // batch if max_steps is None else min(len(data) // batch, max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs * steps)
    ckpt = Path(checkpoint_dir)
    fingerprint = stable_hash({"name": name, "settings": {
        k: v for k, v in asdict(settings).items() if k != "device"},
        "images": np.asarray(images), "max_steps": max_steps})[:20]
    history: list[dict[str, float]] = []
    start = 0
    if (ckpt / "last_state.pt").is_file():
        state = read_state(ckpt / "last_state.pt")
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history, start = list(state["history"]), int(state["epoch"])
            log.info("%s pretraining: resuming from epoch %d (%s)", name, start, ckpt)
    bar = progress_bar(enabled=progress)
    with bar:
        task = bar.add_task(f"{name} SimCLR", total=(settings.epochs - start) * steps)
        for epoch in range(start, settings.epochs):
            tic = time.perf_counter()
            torch.manual_seed(settings.seed * 1009 + epoch)  # a resumed epoch draws the same
            loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True,
                                generator=torch.Generator().manual_seed(settings.seed + epoch))
            model.train()
            total = 0.0
            for step, (first, second) in enumerate(loader):
                if step >= steps:
                    break
                loss = nt_xent(model(first.to(device)), model(second.to(device)),
                               settings.temperature)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                total += float(loss.detach())
                bar.update(task, advance=1)
            history.append({"epoch": epoch + 1, "loss": total / max(steps, 1),
                            "seconds": time.perf_counter() - tic})
            log.info("%s pretraining epoch %d: NT-Xent %.4f", name, epoch + 1,
                     history[-1]["loss"])
            write_state({"fingerprint": fingerprint, "epoch": epoch + 1, "history": history,
                         "model": cpu_copy(model.state_dict()),
                         "optimizer": cpu_copy(optimizer.state_dict()),
                         "scheduler": copy.deepcopy(scheduler.state_dict())},
                        ckpt / "last_state.pt")
    write_weights(cpu_copy(model.backbone.state_dict()), Path(out_file))
    return pd.DataFrame(history, columns=["epoch", "loss", "seconds"])

