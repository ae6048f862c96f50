"""Tiny synthetic lesions for the segmenter's tests: a dark ellipse on speckle.

Run as a script (``python _segment_data.py CKPT_DIR EPOCHS``) it trains the segmenter on
the standard set with checkpoints, for the kill-and-resume test.
"""

from __future__ import annotations

import sys

import numpy as np

from sonomics.segment.train import SegmentSettings


def blob_case(rng: np.random.Generator, shape=(64, 80)) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(shape)
    r0, c0 = rng.uniform(18, 46), rng.uniform(20, 60)
    a, b = rng.uniform(7, 14), rng.uniform(7, 16)
    mask = ((rows - r0) / a) ** 2 + ((cols - c0) / b) ** 2 <= 1
    image = rng.normal(120, 25, shape)
    image[mask] -= 60
    return np.clip(image, 0, 255).astype(np.float32), mask


def blob_set(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    cases = [blob_case(rng) for _ in range(n)]
    return [c[0] for c in cases], [c[1] for c in cases]


def settings(**overrides) -> SegmentSettings:
    base = {"input_size": 64, "epochs": 6, "batch_size": 8, "early_stopping": 10,
            "device": "cpu"}
    return SegmentSettings(**(base | overrides))


if __name__ == "__main__":
    from sonomics.segment.train import train_segmenter

    images, masks = blob_set(24)
    train_segmenter(images, masks, np.arange(24), settings(epochs=int(sys.argv[2])),
                    checkpoint_dir=sys.argv[1], progress=False)
