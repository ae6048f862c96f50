"""The embedded demo cohort: a SYNTHETIC parotid-like ultrasound study.

It mirrors the paper's Tables 1-2 (526 patients; 427 benign, 99 malignant with
the paper's subtypes; age, gender, smoking, drinking, maximum diameter and
seven ultrasound descriptors at the paper's frequencies) and draws for every
patient a 2D ultrasound-like image with a lesion mask and a second-reader mask.
Nothing here is real patient data; every output made from it says SYNTHETIC.

How the signal is built (so the paper's picture can emerge, not a trivially
separable set):

* Class is drawn first (exact subtype counts). Binary descriptors are drawn
  with exact counts per class: the malignant rate is moved from the overall
  rate towards a target by ``clinical_effect`` and the benign rate is solved so
  the whole-cohort frequency stays the paper's. Shape, margin and posterior
  acoustic enhancement carry the strongest signal, smoking, calcification and
  diameter a weak one, the rest none.
* The image shows the descriptors (irregular contour for irregular shape, a
  blurred, spiculated border for a poorly defined margin, heterogeneous
  echotexture, cystic spaces, calcifications with shadowing, posterior
  enhancement below the lesion) plus a class-dependent internal texture that
  no clinical variable carries (``image_effect``): coarser, more heterogeneous
  and slightly darker echotexture in malignant lesions, and subtype accents
  (Warthin: cystic/septated; pleomorphic adenoma: lobulated).
* Around the lesion, OUTSIDE reader 1's mask, an irregular echogenic rim (infiltration;
  ``context_effect``): around 85% of malignant and 8% of benign lesions. ROI radiomics
  see it only where their filters reach across the mask's edge, a CNN given a crop with
  context sees it whole: the deep-learning arm's own signal. Set on a calibration cohort
  (``--seed 7``), never on the demo's test split: the quick profile's ResNet18 reached a
  test AUC of 0.896 there (``benchmarks/real_data.md``, "The CPU recipe"). The rim also
  raised that cohort's radiomics arm (0.804 with a faint rim, 0.878 with this one), so
  the radiomics figures below predate it.
* The second reader's mask is the same lesion re-delineated: the contour's
  radius is perturbed by a smooth random function and a small scale change
  (Dice with reader 1 about 0.9).

Knobs (:class:`DemoSettings`): ``seed``, ``n_benign``/``n_malignant`` (scaled
subtype counts), ``clinical_effect``, ``image_effect`` and ``context_effect`` in [0, 1.5],
``image_size`` and ``pixel_spacing_mm``. With the defaults a clinical-only
logistic model reaches a test AUC of roughly 0.85-0.90 and no single variable
exceeds about 0.85 (measured in ``tests/test_demo_cohort.py``); a logistic model on the
102 Original-image radiomics features reaches about 0.86 (single features at most
about 0.69), and images and clinical factors together do better than either. The
class-dependent speckle *correlation* is deliberately not varied: GLCM Imc1 alone
separated the classes at AUC 0.96 when it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage, special

from sonomics.io import atomic_path

BENIGN_SUBTYPES = {"Pleomorphic adenoma": 207, "Warthin tumor": 133, "Basal cell adenoma": 40,
                   "Myoepithelioma": 36, "Others (benign)": 11}
MALIGNANT_SUBTYPES = {"Mucoepidermoid carcinoma": 28, "Adenoid cystic carcinoma": 17,
                      "Salivary duct carcinoma": 15, "Acinic cell carcinoma": 13,
                      "Others (malignant)": 26}

#: variable -> (level shown when present, level when absent, overall rate of present (paper),
#:              malignant rate at clinical_effect = 1)
BINARY_VARIABLES = {
    "gender": ("Male", "Female", 283 / 526, 0.56),
    "smoking": ("Present", "Absent", 170 / 526, 0.45),
    "drinking": ("Present", "Absent", 155 / 526, 0.30),
    "shape": ("Irregular", "Regular", 150 / 526, 0.63),
    "margin": ("Poorly-defined", "Well-defined", 153 / 526, 0.63),
    "echogenicity": ("Heterogeneous", "Homogeneous", 415 / 526, 0.86),
    "cystic_component": ("Present", "Absent", 113 / 526, 0.18),
    "calcification": ("Present", "Absent", 87 / 526, 0.30),
    # the paper's risk factor is the *absence* of enhancement: present in 77%
    "posterior_enhancement": ("Present", "Absent", 405 / 526, 0.42),
}
CONTINUOUS_VARIABLES = ["age", "max_diameter_cm"]
#: the rim: share of benign / malignant lesions with it (context_effect 1), thickness
#: (fraction of the lesion radius), brightness gain, irregularity, gap from the lesion
HALO_RATE = (0.08, 0.85)
HALO_THICKNESS = (0.3, 0.6)
HALO_STRENGTH = (1.0, 2.0)
HALO_PATCHINESS = 0.8
HALO_GAP = 0.0
#: the CPU recipe in the demo's 10 min: its 4 CNNs (full + 3 out-of-fold) train 6 min at most,
#: less when the stages must end within 9.5 min (start-up adds ≈ 0.5 min; docs/deep.md)
DEMO_DEEP = {"time_budget_min": 6.0, "finish_within_min": 9.5}
CATEGORICAL_VARIABLES = list(BINARY_VARIABLES)


@dataclass(frozen=True)
class DemoSettings:
    """Knobs of the synthetic cohort (defaults reproduce the paper's cohort size)."""

    seed: int = 2024
    n_benign: int = 427
    n_malignant: int = 99
    clinical_effect: float = 1.0
    image_effect: float = 1.0
    context_effect: float = 1.0
    image_size: tuple[int, int] = (224, 288)  # rows, columns
    pixel_spacing_mm: float = 0.35
    subtypes: dict[str, dict[str, int]] = field(default_factory=lambda: {
        "benign": BENIGN_SUBTYPES, "malignant": MALIGNANT_SUBTYPES})

    def __post_init__(self) -> None:
        if self.n_benign < 4 or self.n_malignant < 4:
            raise ValueError("the demo cohort needs at least 4 cases per class")
        for name in ("clinical_effect", "image_effect", "context_effect"):
            if not 0 <= getattr(self, name) <= 1.5:
                raise ValueError(f"{name} must lie in [0, 1.5]")


def _scaled_counts(counts: dict[str, int], total: int) -> dict[str, int]:
    """Subtype counts scaled to ``total`` (largest remainder), exact when unscaled."""
    base = sum(counts.values())
    raw = {k: v * total / base for k, v in counts.items()}
    out = {k: int(np.floor(v)) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


def _exact_binary(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    k = int(round(np.clip(rate, 0, 1) * n))
    values = np.zeros(n, dtype=bool)
    values[rng.permutation(n)[:k]] = True
    return values


def generate_clinical(settings: DemoSettings) -> pd.DataFrame:
    """The clinical table: one row per patient, class, subtype and the 11 variables."""
    rng = np.random.default_rng(settings.seed)
    nb, nm = settings.n_benign, settings.n_malignant
    benign = _scaled_counts(settings.subtypes["benign"], nb)
    malignant = _scaled_counts(settings.subtypes["malignant"], nm)
    subtype = np.array([s for s, n in benign.items() for _ in range(n)]
                       + [s for s, n in malignant.items() for _ in range(n)])
    label = np.r_[np.zeros(nb, int), np.ones(nm, int)]
    order = rng.permutation(nb + nm)
    subtype, label = subtype[order], label[order]
    n = nb + nm
    df = pd.DataFrame({"case_id": [f"P{i + 1:04d}" for i in range(n)],
                       "label": np.where(label == 1, "malignant", "benign"),
                       "subtype": subtype})
    is_m = label == 1
    eff = settings.clinical_effect
    for var, (yes, no, overall, target) in BINARY_VARIABLES.items():
        p_m = overall + eff * (target - overall)
        p_b = np.clip((overall * n - p_m * nm) / nb, 0, 1)
        present = np.zeros(n, dtype=bool)
        present[is_m] = _exact_binary(rng, nm, p_m)
        present[~is_m] = _exact_binary(rng, nb, p_b)
        df[var] = np.where(present, yes, no)
    warthin = subtype == "Warthin tumor"  # older, male smokers: a realistic benign accent
    age = rng.normal(51.7, 15.2, n) + eff * 4.0 * is_m + 6.0 * warthin - 1.2
    df["age"] = np.clip(np.round(age), 12, 87).astype(int)
    diameter = rng.gamma(7.5, 0.36, n) + eff * 0.45 * is_m - 0.08
    df["max_diameter_cm"] = np.round(np.clip(diameter, 0.6, 6.0), 1)
    return df


# ----------------------------------------------------------------------------- images
def _speckle(rng: np.random.Generator, shape: tuple[int, int], sigma=(0.9, 2.2)) -> np.ndarray:
    """Fully developed speckle: magnitude of smoothed complex Gaussian noise (Rayleigh)."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    im = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    mag = np.hypot(re, im)
    return mag / mag.mean()


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field_ = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field_ / (field_.std() + 1e-9)


def _radius_function(rng: np.random.Generator, irregular: bool, poorly_defined: bool,
                     malignant: bool, subtype: str, image_effect: float):
    """Contour radius (relative) as a function of angle, plus the lesion's aspect/rotation."""
    harmonics = []
    for k in (2, 3, 4, 5):  # every lesion is somewhat irregular: overlap between classes
        harmonics.append((k, rng.uniform(0, 0.07), rng.uniform(0, 2 * np.pi)))
    if subtype == "Pleomorphic adenoma":  # lobulated
        harmonics.append((rng.integers(4, 7), rng.uniform(0.04, 0.09), rng.uniform(0, 2 * np.pi)))
    if irregular:
        for k in rng.choice(np.arange(3, 10), size=3, replace=False):
            harmonics.append((int(k), rng.uniform(0.03, 0.12), rng.uniform(0, 2 * np.pi)))
    if poorly_defined:  # fine spiculation
        for k in rng.choice(np.arange(12, 24), size=3, replace=False):
            harmonics.append((int(k), rng.uniform(0.005, 0.035), rng.uniform(0, 2 * np.pi)))
    if malignant:  # a little roughness no descriptor records
        for k in rng.choice(np.arange(8, 16), size=2, replace=False):
            harmonics.append((int(k), image_effect * rng.uniform(0.0015, 0.005),
                              rng.uniform(0, 2 * np.pi)))

    def radius(theta: np.ndarray) -> np.ndarray:
        r = np.ones_like(theta)
        for k, amp, phase in harmonics:
            r += amp * np.cos(k * theta + phase)
        return r

    aspect = rng.uniform(0.62, 0.85)  # depth / width of the lesion
    rotation = rng.normal(0, 0.15)
    return radius, aspect, rotation


def _lesion_mask(shape, center, semi_axis, aspect, rotation, radius, jitter=None) -> np.ndarray:
    rows, cols = np.indices(shape, dtype=float)
    y = (rows - center[0]) / aspect
    x = cols - center[1]
    xr = x * np.cos(rotation) + y * np.sin(rotation)
    yr = -x * np.sin(rotation) + y * np.cos(rotation)
    theta = np.arctan2(yr, xr)
    rho = np.hypot(xr, yr)
    limit = semi_axis * radius(theta)
    if jitter is not None:
        limit = limit * jitter(theta)
    return rho <= limit, rho / np.maximum(limit, 1e-6)


def _second_reader_jitter(rng: np.random.Generator):
    """A smooth random relative change of the contour radius (re-delineation)."""
    scale = 1 + rng.normal(0, 0.025)
    terms = [(k, rng.normal(0, 0.018), rng.uniform(0, 2 * np.pi)) for k in range(1, 7)]

    def jitter(theta: np.ndarray) -> np.ndarray:
        out = np.full_like(theta, scale)
        for k, amp, phase in terms:
            out += amp * np.cos(k * theta + phase)
        return out

    return jitter


def _peritumoural_halo(image: np.ndarray, rel: np.ndarray, mask: np.ndarray,
                       malignant: bool, context_effect: float,
                       rng: np.random.Generator) -> np.ndarray:
    """An irregular echogenic rim just OUTSIDE the lesion (infiltration of the surrounding
    tissue), more often and brighter around malignant lesions.

    It lies outside reader 1's mask, so ROI radiomics see it only where their filters
    reach across the mask's edge, while a CNN given a crop with context sees it whole:
    the deep-learning arm's own signal. Drawn last (so no other pixel of the case
    changes with it); with ``context_effect = 0`` it is as frequent around benign as
    around malignant lesions (``HALO_RATE[0]``): no class signal.
    """
    p_present = HALO_RATE[0] + context_effect * (HALO_RATE[1] - HALO_RATE[0]) * malignant
    present = rng.random() < p_present
    thickness = rng.uniform(*HALO_THICKNESS)  # relative to the lesion's radius
    strength = rng.uniform(*HALO_STRENGTH)
    patchy = special.expit(HALO_PATCHINESS * _smooth_noise(rng, image.shape, 3.0))
    if not present:
        return image
    band = np.exp(-(((rel - 1 - HALO_GAP - thickness / 2) / (thickness / 2)) ** 2)) * ~mask
    return image * (1 + strength * band * patchy)


def render_case(row: pd.Series, settings: DemoSettings, rng: np.random.Generator,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw one ultrasound-like image (uint8) with reader-1 and reader-2 masks (bool)."""
    h, w = settings.image_size
    malignant = row["label"] == "malignant"
    eff = settings.image_effect
    irregular = row["shape"] == "Irregular"
    poorly = row["margin"] == "Poorly-defined"
    subtype = row["subtype"]

    # background tissue: depth layers, speckle, depth attenuation
    depth = np.linspace(0, 1, h)[:, None]
    tissue = 0.55 + 0.12 * _smooth_noise(rng, (h, w), (6, 18)) + 0.05 * np.sin(depth * 9)
    tissue[: max(3, h // 40)] += 0.9  # skin line
    image = tissue * _speckle(rng, (h, w))

    # lesion geometry
    diam_px = row["max_diameter_cm"] * 10 / settings.pixel_spacing_mm
    semi_axis = float(np.clip(diam_px / 2, 8, 0.42 * w))
    radius, aspect, rotation = _radius_function(rng, irregular, poorly, malignant, subtype, eff)
    semi_axis = min(semi_axis, 0.40 * h / aspect)
    center = (rng.uniform(0.42, 0.55) * h, rng.uniform(0.4, 0.6) * w)
    mask, rel = _lesion_mask((h, w), center, semi_axis, aspect, rotation, radius)
    jitter = _second_reader_jitter(rng)
    mask2, _ = _lesion_mask((h, w), center, semi_axis, aspect, rotation, radius, jitter)

    # internal echotexture: hypoechoic, class- and descriptor-dependent heterogeneity
    level = 0.27 - eff * 0.016 * malignant + rng.normal(0, 0.04)
    hetero = 0.10 + 0.16 * (row["echogenicity"] == "Heterogeneous") + eff * 0.04 * malignant
    coarse = 2.0 + eff * 0.8 * malignant
    inside = level * (1 + hetero * _smooth_noise(rng, (h, w), coarse))
    speckle_in = _speckle(rng, (h, w), sigma=(0.9, 2.0))
    inside = np.clip(inside, 0.03, None) * speckle_in
    if row["cystic_component"] == "Present" or (subtype == "Warthin tumor" and rng.random() < .5):
        blobs = _smooth_noise(rng, (h, w), 4.0) > 1.3
        inside = np.where(blobs, 0.06 * _speckle(rng, (h, w)), inside)
    # boundary: sharp (with a faint capsule) or blurred over several pixels
    width = rng.uniform(0.08, 0.22) if poorly else rng.uniform(0.02, 0.12)
    alpha = special.expit(-(rel - 1) / width)
    if not poorly and rng.random() < 0.6:
        capsule = np.exp(-((rel - 1) / 0.035) ** 2) * 0.3
        image = image + capsule * _speckle(rng, (h, w))
    image = alpha * inside + (1 - alpha) * image

    rows = np.arange(h)[:, None]
    below = (rows > center[0]) & (np.abs(np.arange(w)[None, :] - center[1]) < semi_axis * 0.8)
    fade = np.exp(-np.clip(rows - center[0] - semi_axis * aspect, 0, None) / (0.35 * h))
    if row["posterior_enhancement"] == "Present":
        image = np.where(below & ~mask, image * (1 + 0.55 * fade), image)
    if row["calcification"] == "Present":
        ys, xs = np.nonzero(mask)
        for _ in range(rng.integers(2, 6)):
            i = rng.integers(len(ys))
            cy, cx = ys[i], xs[i]
            spot = np.hypot(rows - cy, np.arange(w)[None, :] - cx) < rng.uniform(1.2, 2.5)
            image = np.where(spot, 2.6, image)
            shadow = (rows > cy + 2) & (np.abs(np.arange(w)[None, :] - cx) < 2.5)
            image = np.where(shadow, image * 0.55, image)

    image = _peritumoural_halo(image, rel, mask, malignant, settings.context_effect, rng)
    gain = 1.0 - 0.35 * depth  # time-gain compensation left imperfect
    image = image * gain * 118
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image, mask, mask2


def render_cohort(settings: DemoSettings, clinical: pd.DataFrame | None = None,
                  ) -> Iterator[tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(row, image, reader-1 mask, reader-2 mask)`` per case, each from its own child
    of ``settings.seed``: the one place fixing a seed's pixels (demo files, benchmarks)."""
    clinical = generate_clinical(settings) if clinical is None else clinical
    seeds = np.random.SeedSequence(settings.seed).spawn(len(clinical))
    for (_, row), seq in zip(clinical.iterrows(), seeds, strict=True):
        yield (row, *render_case(row, settings, np.random.default_rng(seq)))


def generate_demo_cohort(out_dir: str | Path, settings: DemoSettings | None = None,
                         ) -> Path:
    """Write images, masks, second-reader masks and ``manifest.csv`` into ``out_dir``.

    Deterministic for a given ``settings.seed``; returns the manifest path.
    """
    settings = settings or DemoSettings()
    out = Path(out_dir)
    for sub in ("images", "masks", "masks_reader2"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    clinical = generate_clinical(settings)
    for row, image, mask, mask2 in render_cohort(settings, clinical):
        cid = row["case_id"]
        _save_png(image, out / "images" / f"{cid}.png")
        _save_png(mask.astype(np.uint8) * 255, out / "masks" / f"{cid}_mask.png")
        _save_png(mask2.astype(np.uint8) * 255, out / "masks_reader2" / f"{cid}_mask.png")
    manifest = clinical.assign(
        patient_id=clinical["case_id"],
        image=[f"images/{c}.png" for c in clinical["case_id"]],
        mask=[f"masks/{c}_mask.png" for c in clinical["case_id"]],
        mask_reader2=[f"masks_reader2/{c}_mask.png" for c in clinical["case_id"]],
        spacing_mm=settings.pixel_spacing_mm)
    first = ["case_id", "patient_id", "image", "mask", "mask_reader2", "label", "subtype",
             "spacing_mm"]
    manifest = manifest[first + [c for c in manifest.columns if c not in first]]
    path = out / "manifest.csv"
    with atomic_path(path) as tmp:
        manifest.to_csv(tmp, index=False)
    (out / "SYNTHETIC.txt").write_text(
        "SYNTHETIC DATA generated by `sonomics demo` (seed "
        f"{settings.seed}). Not patient data; for demonstration and testing only.\n")
    return path


def demo_config_dict(manifest: Path, out: Path) -> dict:
    """The study config for the demo cohort (paper defaults, quick deep profile)."""
    from sonomics.config import StudyConfig, apply_profile

    quick = apply_profile(StudyConfig(), "quick")
    return {
        "name": "SYNTHETIC parotid-like demo cohort",
        "out": str(out),
        "data": {"manifest": str(manifest), "subtype": "subtype", "spacing": "spacing_mm",
                 "continuous": CONTINUOUS_VARIABLES, "categorical": CATEGORICAL_VARIABLES,
                 "units": {"age": "years", "max_diameter_cm": "cm"}, "synthetic": True},
        "deep": {**quick.deep.model_dump(mode="json"), **DEMO_DEEP},
        "fusion": quick.fusion.model_dump(mode="json"),
        # how a study states what only its authors know (the checklists quote it)
        "reporting": {
            "study_design": "Synthetic demonstration cohort, generated (not collected)",
            "setting": "None: images generated by `sonomics demo`, one simulated centre",
            "eligibility": "All 526 generated patients, one lesion and image each",
            "reference_standard": "Simulated label drawn by the generator (stands in for "
                                  "histopathology); no assessor",
            "data_sharing": "Regenerated exactly by `sonomics demo` (seeded)",
            "code_sharing": "sonomics is open source; this config is the run's config.yaml",
        },
    }


def _save_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
