"""Near-duplicate image detection.

Public ultrasound sets hold duplicated images (BUSI: about a fifth, some filed
under both classes). A duplicate on both sides of a split inflates every test
figure, so validation finds near-duplicates and the split keeps each group on
one side.

Method: the 64-bit perceptual hash (DCT hash, ``imagehash.phash``) of each
grey image, computed after the image is contrast-normalised to 8 bit; two
images are near-duplicates when their hashes differ in at most
``DEFAULT_MAX_DISTANCE`` bits (of 64). Resizing, re-encoding (JPEG) and shifts
of a few pixels change a handful of bits; different scans differ in about half
of them (~32). Groups are the connected components of the "near-duplicate"
relation (union-find), so a chain A~B~C is one group.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

#: Hamming distance (bits of 64) at or below which two images are near-duplicates
DEFAULT_MAX_DISTANCE = 6


def image_hash(array: np.ndarray) -> int:
    """64-bit perceptual hash of a grey float image (robust to resize and re-encoding)."""
    import imagehash
    from PIL import Image

    lo, hi = np.percentile(array, [0.5, 99.5])
    scaled = np.clip((array - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    bits = imagehash.phash(Image.fromarray(scaled), hash_size=8).hash.flatten()
    return int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])


def near_duplicate_groups(hashes: pd.Series, max_distance: int = DEFAULT_MAX_DISTANCE,
                          ) -> list[list[str]]:
    """Groups (≥ 2 case ids each) of images whose hashes are within ``max_distance`` bits."""
    ids = list(hashes.index)
    values = np.asarray(hashes.to_numpy(), dtype=np.uint64)
    parent = list(range(len(ids)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(ids) - 1):
        distance = np.bitwise_count(values[i] ^ values[i + 1:])
        for j in np.nonzero(distance <= max_distance)[0]:
            a, b = find(i), find(i + 1 + int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[str]] = {}
    for i, cid in enumerate(ids):
        groups.setdefault(find(i), []).append(cid)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def grouping_key(patients: pd.Series, groups: Iterable[list[str]]) -> pd.Series:
    """A split group per case: patients joined with near-duplicate groups (union-find)."""
    key = {cid: str(p) for cid, p in patients.items()}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in groups:
        roots = [find(key[c]) for c in group if c in key]
        for r in roots[1:]:
            parent[find(r)] = find(roots[0])
    return pd.Series({cid: find(k) for cid, k in key.items()}, name="group_id")
