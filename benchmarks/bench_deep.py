"""Deep-learning benchmark: is the data pipeline a bottleneck, and how fast is inference?

For each backbone it measures, on the demo cohort (``sonomics.data.demo``) at the profile's
input size:

* **epoch time** of :func:`sonomics.deep.train.train_backbone` (augmentation, loader,
  class-weighted loss, scheduler, validation pass, checkpointing) against the *bare torch
  compute* on the same number of batches of pre-built tensors (forward, loss, backward,
  optimizer step, the same validation forward). Goal: ratio <= 1.1;
* **inference** images/s (batched forward, normalisation included);
* on CUDA: the peak GPU memory of training.

CPU (the default, a few minutes)::

    python benchmarks/bench_deep.py --profile quick --write-md

GPU (the paper profile: three backbones, 224 px, full epochs over the cohort)::

    python benchmarks/bench_deep.py --profile paper --device cuda --write-md

Numbers go to stdout and, with ``--write-md``, replace the ``## Deep learning`` section of
``benchmarks/BENCHMARKS.md`` (other sections are left as they are).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sonomics.config import PAPER_BACKBONES, StudyConfig, apply_profile
from sonomics.data.demo import DemoSettings, generate_demo_cohort
from sonomics.data.manifest import normalise_label
from sonomics.deep.backbones import build_backbone
from sonomics.deep.dataset import load_crops
from sonomics.deep.preprocess import Normaliser, to_network_input
from sonomics.deep.runtime import autocast_dtype, configure_threads, resolve_device
from sonomics.deep.train import (
    TrainSettings,
    class_weights,
    make_optimizer,
    predict_logits,
    train_backbone,
    validation_split,
)

HERE = Path(__file__).resolve().parent
SECTION = "## Deep learning"


def demo_crops(n_cases: int, size: int, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """ROI crops and labels of a demo cohort with ``n_cases`` cases (paper class ratio)."""
    n_mal = max(4, round(n_cases * 99 / 526))
    manifest = generate_demo_cohort(workdir / "demo", DemoSettings(
        n_benign=n_cases - n_mal, n_malignant=n_mal))
    table = pd.read_csv(manifest)
    base = manifest.parent
    crops = load_crops(list(table["case_id"]), [str(base / p) for p in table["image"]],
                       [str(base / p) for p in table["mask"]], size=size)
    label_map = StudyConfig().data.label_map
    labels = table["label"].map(lambda v: normalise_label(v, label_map))
    return crops.crops, labels.set_axis(table["case_id"]).loc[crops.case_ids].to_numpy(int)


def bare_epoch(name: str, crops: np.ndarray, labels: np.ndarray, settings: TrainSettings,
               device: torch.device, steps: int) -> float:
    """Seconds of one epoch of bare torch compute on pre-built batches (fastest after the 1st)."""
    train_idx, val_idx = validation_split(labels, np.arange(len(labels)).astype(str),
                                          settings.val_fraction, settings.seed)
    norm = Normaliser()
    x_all = to_network_input(torch.from_numpy(crops[train_idx])[:, None], norm)
    y_all = torch.from_numpy(labels[train_idx].astype(np.float32))
    x_val = to_network_input(torch.from_numpy(crops[val_idx])[:, None], norm)
    model = build_backbone(name, pretrained=False).to(device)
    cl = device.type == "cuda"
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, settings)
    weights = class_weights(labels[train_idx]).to(device)
    dtype = autocast_dtype(device)
    bs = settings.batch_size
    batches = [(x_all[i:i + bs].to(device), y_all[i:i + bs].to(device))
               for i in range(0, bs * steps, bs)]
    seconds = []
    for _ in range(settings.epochs):
        _sync(device)
        tic = time.perf_counter()
        model.train()
        for x, y in batches:
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                logits = model(x).float()
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y, reduction="none") * weights[y.long()]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            for i in range(0, len(x_val), max(bs, 32)):
                xv = x_val[i:i + max(bs, 32)].to(device)
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    model(xv)
        _sync(device)
        seconds.append(time.perf_counter() - tic)
    return min(seconds[1:])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_backbone(name: str, crops: np.ndarray, labels: np.ndarray, settings: TrainSettings,
                   device: torch.device, max_steps: int | None, workdir: Path,
                   epochs: int = 2, repeats: int = 2) -> dict:
    n_train = len(validation_split(labels, np.arange(len(labels)).astype(str),
                                   settings.val_fraction, settings.seed)[0])
    steps = n_train // settings.batch_size
    if max_steps:
        steps = min(steps, max_steps)
    settings.epochs = epochs
    settings.early_stopping = 10
    ours, bare, peak = [], [], float("nan")
    # repeats interleave the two measurements, so a burst of load on a shared machine
    # hits both; the fastest epoch of each (after each run's first) is compared
    for r in range(repeats):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        result = train_backbone(name, crops, labels, np.arange(len(labels)).astype(str),
                                settings, checkpoint_dir=workdir / f"ckpt-{name}-{r}",
                                pretrained=False, progress=False, max_steps=steps)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated() / 2**30
        ours.extend(result.epoch_seconds[1:])
        bare.append(bare_epoch(name, crops, labels, settings, device, steps))
    sonomics_epoch, bare = min(ours), min(bare)
    return {"backbone": name, "steps/epoch": steps, "batch": settings.batch_size,
            "sonomics epoch s": sonomics_epoch, "bare torch epoch s": bare,
            "ratio": sonomics_epoch / bare, "peak GPU GiB": peak}


def bench_inference(name: str, crops: np.ndarray, device: torch.device) -> float:
    """Images per second of batched inference (normalisation included), after a warm-up."""
    model = build_backbone(name, pretrained=False).to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    norm = Normaliser()
    n = min(len(crops), 512 if device.type == "cuda" else 64)
    predict_logits(model, crops[:8], norm, batch_size=32, device=device)  # warm-up
    _sync(device)
    tic = time.perf_counter()
    predict_logits(model, crops[:n], norm, batch_size=32, device=device)
    _sync(device)
    return n / (time.perf_counter() - tic)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def write_markdown(frame: pd.DataFrame, header: str) -> Path:
    path = HERE / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    body = f"{SECTION}\n\n{header}\n\n{_markdown(frame)}\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else (
        text.rstrip("\n") + "\n\n" + body)
    path.write_text(text, encoding="utf-8")
    return path


def _markdown(frame: pd.DataFrame) -> str:
    from sonomics.io import to_markdown

    return to_markdown(frame, floatfmt=".2f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=["quick", "paper"], default="quick")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument("--backbones", nargs="*", help="default: the profile's (quick: "
                        "densenet121; paper: densenet121 vgg19 resnet50)")
    parser.add_argument("--inference", nargs="*", default=None,
                        help="backbones timed for inference (default: the paper's three)")
    parser.add_argument("--cases", type=int, default=None,
                        help="demo cohort size (default: 120 on CPU, 526 = paper on GPU)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="cap steps per epoch (default: 4 on CPU, none on GPU)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="epochs per measurement (>= 2; the fastest after the first counts)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="interleaved repetitions of (sonomics, bare) measurements")
    parser.add_argument("--write-md", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    configure_threads(device)
    cfg = apply_profile(StudyConfig(), args.profile)
    backbones = args.backbones or cfg.deep.backbones
    gpu = device.type == "cuda"
    n_cases = args.cases or (526 if gpu else 120)
    max_steps = args.max_steps if args.max_steps is not None else (None if gpu else 4)
    settings = TrainSettings.from_config(cfg.deep, seed=cfg.seed)
    settings.device = device.type
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        crops, labels = demo_crops(n_cases, cfg.deep.input_size, Path(tmp))
        print(f"demo cohort: {len(crops)} cases cropped to {cfg.deep.input_size} px in "
              f"{time.perf_counter() - tic:.1f} s", flush=True)
        for name in backbones:
            row = bench_backbone(name, crops, labels, settings, device, max_steps, Path(tmp),
                                 epochs=max(2, args.epochs), repeats=max(1, args.repeats))
            rows.append(row)
            print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()},
                  flush=True)
        speed = {}
        for name in (args.inference if args.inference is not None else PAPER_BACKBONES):
            speed[name] = bench_inference(name, crops, device)
            print(f"{name}: inference {speed[name]:.1f} images/s", flush=True)
    frame = pd.DataFrame(rows, columns=["backbone", "steps/epoch", "batch", "sonomics epoch s",
                                        "bare torch epoch s", "ratio", "peak GPU GiB"])
    frame = frame.set_index("backbone").reindex(list(dict.fromkeys(
        [*frame["backbone"], *speed]))).reset_index()
    frame["inference img/s"] = frame["backbone"].map(speed)
    for col in ("steps/epoch", "batch"):  # integers, blank where only inference was timed
        frame[col] = [("" if pd.isna(v) else int(v)) for v in frame[col]]
    if not gpu:
        frame = frame.drop(columns="peak GPU GiB")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    header = (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
              f"{load} (1/5/15 min). "
              f"`python benchmarks/bench_deep.py {' '.join(argv or sys.argv[1:])}` on "
              f"{device_name(device)} (device {device.type}); torch {torch.__version__}; "
              f"{args.profile} profile ({cfg.deep.input_size} px, batch {settings.batch_size}), "
              f"demo cohort of {len(crops)} cases, random initialisation; epoch = training "
              f"steps + validation pass; fastest epoch after the first, over {args.repeats} "
              f"interleaved repeats. `ratio` = sonomics epoch / bare torch compute on the "
              f"same batches (goal <= 1.1).")
    print(header)
    print(_markdown(frame))
    if args.write_md:
        print(f"written to {write_markdown(frame, header)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
