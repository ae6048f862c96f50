"""Adapters that turn public ultrasound datasets into a sonomics manifest.

Each adapter reads a dataset in its published layout and writes one manifest
CSV (nothing else: images stay where they are; paths in the manifest are
absolute). The manifest uses sonomics' default column names, so
``sonomics init DIR --manifest MANIFEST`` produces a config that runs as is.

* ``breast-lesions-usg`` — BrEaST-Lesions-USG (Pawłowska et al., Sci. Data 2024,
  CC BY 4.0): the clinical xlsx, ``caseNNN.png`` + ``caseNNN_tumor.png``.
  "not available"/"not applicable" become missing; the 4 "normal" cases (no
  lesion) are excluded; the one tumour mask with a stray grey value (75, two
  pixels, case010) is handled by reading every non-zero pixel as ROI, which
  validation reports as a warning. Pixel size (cm in the xlsx) becomes
  ``spacing_mm``. The ultrasound descriptors are mapped as :data:`BREAST_FACTORS`
  documents (shape oval/round -> regular; margin circumscribed vs not;
  echogenicity hypoechoic / heterogeneous / other; calcifications present if in a
  mass, intraductal or indefinable; tissue composition fat / fibroglandular /
  lactating). BI-RADS is kept as ``birads`` — the radiologist's verdict, a
  comparator, not a clinical predictor (BI-RADS 2 cases were verified by
  follow-up, not biopsy).
* ``bus-bra`` — BUS-BRA (Gómez-Flores et al., Med. Phys. 2024): ``bus_data.csv``
  where ``Case`` is the patient (several images per patient); BI-RADS, device,
  side and the official 5-fold partition are kept as columns; the device is also the
  ``site`` (four scanners).
* ``busi`` — BUSI (Al-Dhabyani et al., Data in Brief 2020): ``benign/``,
  ``malignant/``, ``normal/`` with ``NAME.png``, ``NAME_mask.png`` and extra
  ``NAME_mask_1.png``… which are merged into one ROI (joined with ``|``);
  normal images are excluded. BUSI has no clinical variables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sonomics.data.images import MASK_SEPARATOR
from sonomics.io import atomic_path


class AdapterError(ValueError):
    """The source folder does not have the dataset's published layout."""


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise AdapterError(f"{what} not found: {path}")
    return path


def _na(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() in ("not available", "not applicable"):
        return pd.NA
    return value


def convert_breast_lesions_usg(src: Path) -> pd.DataFrame:
    """Manifest rows for BrEaST-Lesions-USG (252 lesions: benign + malignant)."""
    xlsx = sorted(src.glob("*.xlsx"))
    if not xlsx:
        raise AdapterError(f"no clinical .xlsx in {src} (expected "
                           "BrEaST-Lesions-USG-clinical-data-*.xlsx)")
    folder = next((p for p in src.iterdir() if p.is_dir() and "images" in p.name.lower()), src)
    data = pd.read_excel(xlsx[0], sheet_name=0)
    needed = {"CaseID", "Image_filename", "Mask_tumor_filename", "Classification"}
    missing = needed - set(data.columns)
    if missing:
        raise AdapterError(f"{xlsx[0].name} lacks columns {sorted(missing)}")
    data = data[data["Classification"].astype(str).str.strip().str.lower() != "normal"]
    data = data.map(_na)
    out = pd.DataFrame({
        "case_id": data["Image_filename"].str.replace(".png", "", regex=False),
        "image": [str(_require(folder / f, "image")) for f in data["Image_filename"]],
        "mask": [MASK_SEPARATOR.join(str(_require(folder / m.strip(), "mask"))
                                     for m in str(f).split("&"))
                 for f in data["Mask_tumor_filename"]],
        "label": data["Classification"].str.strip().str.lower(),
        "subtype": data.get("Diagnosis"),
        "spacing_mm": pd.to_numeric(data["Pixel_size"], errors="coerce") * 10.0,
        "age": pd.to_numeric(data["Age"], errors="coerce"),
    })
    out["patient_id"] = out["case_id"]
    for src_col, (dst, mapping) in BREAST_FACTORS.items():
        if src_col not in data:
            continue
        text = data[src_col].astype("string").str.strip().str.lower()
        out[dst] = text.map(mapping) if mapping is not None else text
    return out.reset_index(drop=True)


def _tissue(value: object) -> object:
    text = str(value)
    if "lactating" in text:
        return "lactating"
    if "fibroglandular" in text:
        return "fibroglandular"
    return "fat" if "fat" in text else pd.NA


#: BrEaST-Lesions-USG xlsx column -> (manifest column, value mapping or None = keep as is).
#: Values not in a mapping (incl. "not available"/"not applicable") become missing.
BREAST_FACTORS: dict[str, tuple[str, object]] = {
    "Shape": ("shape", {"oval": "regular", "round": "regular", "irregular": "irregular"}),
    "Margin": ("margin", lambda v: (pd.NA if pd.isna(v) else "circumscribed"
                                    if v == "circumscribed" else "not circumscribed")),
    "Echogenicity": ("echogenicity", {"hypoechoic": "hypoechoic",
                                      "heterogeneous": "heterogeneous",
                                      "anechoic": "other", "isoechoic": "other",
                                      "hyperechoic": "other", "complex cystic/solid": "other"}),
    # "absent", not "none": sonomics reads "none" in a manifest as a missing value
    "Posterior_features": ("posterior_features", {"no": "absent", "shadowing": "shadowing",
                                                  "enhancement": "enhancement",
                                                  "combined": "combined"}),
    "Halo": ("halo", {"yes": "present", "no": "absent"}),
    "Calcifications": ("calcifications", {"no": "absent", "in a mass": "present",
                                          "intraductal": "present", "indefinable": "present"}),
    "Skin_thickening": ("skin_thickening", {"yes": "present", "no": "absent"}),
    "Tissue_composition": ("tissue_composition", _tissue),
    "BIRADS": ("birads", None),
    "Verification": ("verification", None),
}


def convert_bus_bra(src: Path) -> pd.DataFrame:
    """Manifest rows for BUS-BRA (1,875 images of 1,064 patients)."""
    table = pd.read_csv(_require(src / "bus_data.csv", "bus_data.csv"))
    folds_path = src / "5-fold-cv.csv"
    folds = (pd.read_csv(folds_path).set_index("ID")["kFold"] if folds_path.exists()
             else pd.Series(dtype=float))
    images, masks = src / "Images", src / "Masks"
    out = pd.DataFrame({
        "case_id": table["ID"],
        "patient_id": table["Case"].map(lambda c: f"patient_{int(c):04d}"),
        "image": [str(_require(images / f"{i}.png", "image")) for i in table["ID"]],
        "mask": [str(_require(masks / f"mask_{i.removeprefix('bus_')}.png", "mask"))
                 for i in table["ID"]],
        "label": table["Pathology"].str.strip().str.lower(),
        "subtype": table["Histology"],
        "birads": table["BIRADS"].astype(str),
        "device": table["Device"],
        "site": table["Device"],  # the scanner: the batch ComBat harmonises
        "side": table["Side"],
    })
    out["fold5"] = table["ID"].map(folds).astype("Int64")
    return out


_BUSI_MASK = re.compile(r"^(?P<stem>.+)_mask(?:_(?P<k>\d+))?$")


def convert_busi(src: Path) -> pd.DataFrame:
    """Manifest rows for BUSI (normal images excluded; extra masks merged)."""
    rows = []
    for cls in ("benign", "malignant"):
        folder = _require(src / cls, f"BUSI folder '{cls}/'")
        masks: dict[str, list[Path]] = {}
        images: dict[str, Path] = {}
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() != ".png":
                continue
            m = _BUSI_MASK.match(f.stem)
            if m:
                masks.setdefault(m.group("stem"), []).append(f)
            else:
                images[f.stem] = f
        for stem, img in sorted(images.items()):
            parts = sorted(masks.get(stem, []), key=lambda p: (len(p.stem), p.stem))
            rows.append({"case_id": f"{cls}_{stem}".replace(" ", "_").replace("(", "")
                         .replace(")", ""),
                         "image": str(img),
                         "mask": MASK_SEPARATOR.join(str(p) for p in parts),
                         "label": cls})
    if not rows:
        raise AdapterError(f"no BUSI images found under {src}/benign and {src}/malignant")
    out = pd.DataFrame(rows)
    out["patient_id"] = out["case_id"]
    return out


ADAPTERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "breast-lesions-usg": convert_breast_lesions_usg,
    "bus-bra": convert_bus_bra,
    "busi": convert_busi,
}


def convert_dataset(name: str, src: str | Path, out: str | Path, *, force: bool = False
                    ) -> tuple[Path, pd.DataFrame]:
    """Run one adapter and write its manifest to ``out`` (a .csv file or a folder).

    An existing manifest there (perhaps edited by hand) is never overwritten unless
    ``force``.
    """
    out = Path(out)
    path = out if out.suffix.lower() == ".csv" else out / "manifest.csv"
    if path.exists() and not force:
        raise AdapterError(f"{path} exists (it may hold your edits); use --force to "
                           "overwrite it")
    if name not in ADAPTERS:
        raise AdapterError(f"unknown dataset '{name}'; known: {', '.join(ADAPTERS)}")
    src = Path(src).resolve()  # manifest paths are absolute: relative ones would resolve
    if not src.is_dir():       # against the manifest's folder, not the current directory
        raise AdapterError(f"source folder not found: {src}")
    frame = ADAPTERS[name](src)
    first = ["case_id", "patient_id", "image", "mask", "label"]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return path, frame
