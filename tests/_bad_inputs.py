"""Generators of hard input files for the bad-input corpus (tests/test_bad_inputs.py).

Every file is made in a temporary folder by the test that needs it; nothing is
committed but this code. Each generator writes one file and returns its path.
Images are 64 x 80 (rows x columns) unless stated, masks hold a lesion well
inside the image unless the case is about the mask.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

SHAPE = (64, 80)  # rows, columns


def speckle(seed: int, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Ultrasound-like gamma speckle as uint8 (different seeds: unrelated perceptual hashes)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.gamma(2.0, 35.0, size=shape) + 20, 0, 255).astype(np.uint8)


def seed_of(case_id: str) -> int:
    """A stable per-case seed, so that no two generated images are near-duplicates."""
    return zlib.crc32(case_id.encode("utf-8"))


def lesion_mask(shape: tuple[int, int] = SHAPE, center: tuple[float, float] | None = None,
                radius: float = 12) -> np.ndarray:
    """A boolean disk (default: centred, radius 12 px = 441 pixels at 64 x 80)."""
    rows, cols = np.indices(shape)
    cy, cx = center if center is not None else (shape[0] / 2, shape[1] / 2)
    return (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2


def write_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def write_mask(path: Path, mask: np.ndarray, value: int = 255) -> Path:
    return write_png(path, mask.astype(np.uint8) * np.uint8(value))


# ----------------------------------------------------------------- broken or odd files
def truncated_png(path: Path, seed: int = 0) -> Path:
    """A valid PNG cut to half its bytes (the IDAT stream ends early)."""
    write_png(path, speckle(seed))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def exif_rotated_jpeg(path: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A 40-wide x 20-high JPEG stored with EXIF orientation 6 (display: rotate 90 CW).

    Returns the path and the stored array: dark speckle whose left 10 columns are
    white, so the displayed (20-wide x 40-high) image has its top 10 rows white.
    """
    stored = (np.random.default_rng(seed).random((20, 40)) * 60).astype(np.uint8)
    stored[:, :10] = 255
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = 6
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, exif=exif.tobytes(), quality=95)
    return path, stored


def sixteen_bit_png(path: Path) -> tuple[Path, np.ndarray]:
    """A 16-bit greyscale PNG using values up to 60,000 (beyond any 8-bit range)."""
    rng = np.random.default_rng(16)
    array = rng.integers(0, 60_000, size=SHAPE, dtype=np.uint16)
    array[0, 0] = 60_000
    return write_png(path, array), array


def rgba_transparent(path: Path) -> Path:
    """RGB(200, 200, 200) everywhere, opaque only in rows 20-39 x columns 20-49."""
    rgba = np.zeros((*SHAPE, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[20:40, 20:50, 3] = 255
    return write_png(path, rgba, "RGBA")


def palette_png(path: Path, seed: int = 3) -> tuple[Path, np.ndarray]:
    """A palette ("P" mode) PNG whose palette entries are greys; returns the grey array."""
    grey = speckle(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey).convert("P").save(path)
    return path, grey


def dicom_without_pixels(path: Path) -> Path:
    """An ultrasound DICOM file with header tags but no PixelData element."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # US Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientID = "anon"
    ds.Rows, ds.Columns = SHAPE
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def nifti_slices(path: Path, slices: int = 3) -> Path:
    """A NIfTI volume of ``slices`` x 64 x 80 voxels (spacing 0.1 x 0.1 x 1 mm)."""
    import SimpleITK as sitk

    volume = np.stack([speckle(s) for s in range(slices)]).astype(np.float32)
    img = sitk.GetImageFromArray(volume)
    img.SetSpacing((0.1, 0.1, 1.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return path


def huge_png(path: Path, width: int = 8000, height: int = 8000) -> Path:
    """An all-black 8-bit PNG of ``width`` x ``height`` written row by row.

    Streaming keeps the generator itself small in memory (no 64 MB array); the
    file is a few tens of kilobytes because zeros compress extremely well.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte 0 + one byte per pixel
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


# ----------------------------------------------------------------- masks
def mask_with_labels(values: tuple[int, ...]) -> np.ndarray:
    """A uint8 lesion mask whose ROI pixels hold ``values`` in horizontal bands (connected)."""
    roi = lesion_mask()
    out = np.zeros(SHAPE, np.uint8)
    rows = np.flatnonzero(roi.any(axis=1))
    for value, band in zip(values, np.array_split(rows, len(values)), strict=True):
        out[band] = np.where(roi[band], value, 0)
    return out


def mask_with_stray_value(stray: int = 75) -> np.ndarray:
    """A 0/255 lesion mask with a few ``stray`` pixels on its outline (BrEaST-style)."""
    roi = lesion_mask()
    out = roi.astype(np.uint8) * np.uint8(255)
    for row in np.flatnonzero(roi.any(axis=1))[:4]:
        out[row, np.flatnonzero(roi[row])[0]] = stray  # the row's leftmost ROI pixel
    return out


def one_pixel_mask() -> np.ndarray:
    mask = np.zeros(SHAPE, bool)
    mask[30, 40] = True
    return mask


def border_mask() -> np.ndarray:
    """A lesion cut off by the top edge of the image (centre 4 px below row 0)."""
    return lesion_mask(center=(4, 40), radius=12)


def two_roi_mask() -> np.ndarray:
    return lesion_mask(center=(20, 20), radius=7) | lesion_mask(center=(45, 60), radius=7)


# ----------------------------------------------------------------- the cohort corpus
@dataclass(frozen=True)
class Expect:
    """One problem the cohort check must report; ``{image}``/``{mask}`` are the file paths."""

    field: str
    severity: str
    message: str


@dataclass(frozen=True)
class CorpusCase:
    """A manifest row built from generated files, and the exact problems it must raise."""

    case_id: str
    what: str
    build: Callable[[Path, str], dict[str, str]]
    expected: tuple[Expect, ...] = ()
    excluded: bool = field(default=False)


def good_files(root: Path, cid: str) -> dict[str, str]:
    """A valid case: speckle image (seeded by the case id) and a centred lesion mask."""
    return {"image": str(write_png(root / "img" / f"{cid}.png", speckle(seed_of(cid)))),
            "mask": str(write_mask(root / "msk" / f"{cid}.png", lesion_mask()))}


def _with_mask(mask: np.ndarray, value: int = 255) -> Callable[[Path, str], dict[str, str]]:
    def build(root: Path, cid: str) -> dict[str, str]:
        row = good_files(root, cid)
        row["mask"] = str(write_mask(root / "msk" / f"{cid}.png", mask, value))
        return row
    return build


def _with_raw_mask(array: np.ndarray) -> Callable[[Path, str], dict[str, str]]:
    def build(root: Path, cid: str) -> dict[str, str]:
        row = good_files(root, cid)
        row["mask"] = str(write_png(root / "msk" / f"{cid}.png", array))
        return row
    return build


def _with_image(make: Callable[[Path], object], name: str,
                mask_shape: tuple[int, int] = SHAPE) -> Callable[[Path, str], dict[str, str]]:
    def build(root: Path, cid: str) -> dict[str, str]:
        made = make(root / "img" / f"{cid}{name}")
        image = made[0] if isinstance(made, tuple) else made
        mask = write_mask(root / "msk" / f"{cid}.png", lesion_mask(mask_shape))
        return {"image": str(image), "mask": str(mask)}
    return build


def _exif_case(mask_shape: tuple[int, int]) -> Callable[[Path, str], dict[str, str]]:
    def build(root: Path, cid: str) -> dict[str, str]:
        image, _ = exif_rotated_jpeg(root / "img" / f"{cid}.jpg", seed_of(cid))
        mask = lesion_mask(mask_shape, radius=6)
        return {"image": str(image), "mask": str(write_mask(root / "msk" / f"{cid}.png", mask))}
    return build


def _non_ascii(root: Path, cid: str) -> dict[str, str]:
    folder = root / "imágenes del estudio" / "paciente ñ 01"
    return {"image": str(write_png(folder / "imagen 1 – modo B.png", speckle(seed_of(cid)))),
            "mask": str(write_mask(folder / "máscara 1.png", lesion_mask()))}


def _missing(root: Path, cid: str) -> dict[str, str]:
    row = good_files(root, cid)
    row["image"] = str(root / "img" / "no such file.png")
    return row


def _mismatch(root: Path, cid: str) -> dict[str, str]:
    row = good_files(root, cid)
    row["mask"] = str(write_mask(root / "msk" / f"{cid}.png", lesion_mask((60, 80))))
    return row


TOO_LARGE = ("image too large (8000x8000 = 64,000,000 pixels; limit 40,000,000): {image}. "
             "Downsample it, or crop it to the scan area.")

#: the file-level corpus: (case, what it is, how to build it, the exact problems)
#: a square image would pass the size check with a mask drawn on the stored pixels
EXIF_WARNING = ("the image is rotated or flipped for display (EXIF orientation 6) but the mask "
                "has no such tag: check that the mask was drawn on the displayed image, not on "
                "the stored pixels")

FILE_CASES: tuple[CorpusCase, ...] = (
    CorpusCase("truncated_png", "PNG cut to half its bytes",
               _with_image(truncated_png, ".png"),
               (Expect("image", "error",
                       "unreadable or truncated image (image file is truncated): {image}"),),
               excluded=True),
    CorpusCase("zero_byte", "0-byte image file", _with_image(zero_byte, ".png"),
               (Expect("image", "error", "file is empty (0 bytes): {image}"),), excluded=True),
    CorpusCase("missing_file", "image path that does not exist", _missing,
               (Expect("image", "error", "file not found: {image}"),), excluded=True),
    CorpusCase("exif_jpeg", "JPEG with EXIF orientation 6, mask drawn on the displayed image",
               _exif_case((40, 20)), (Expect("mask", "warning", EXIF_WARNING),)),
    CorpusCase("exif_jpeg_raw_mask", "the same JPEG, mask drawn on the stored (unrotated) pixels",
               _exif_case((20, 40)),
               (Expect("mask", "error", "mask size 40x20 does not match the image size 20x40 "
                                        "(width x height)"),
                Expect("mask", "warning", EXIF_WARNING)), excluded=True),
    CorpusCase("png16", "16-bit greyscale PNG", _with_image(sixteen_bit_png, ".png")),
    CorpusCase("rgba", "RGBA PNG, transparent background", _with_image(rgba_transparent, ".png")),
    CorpusCase("palette", "palette (P mode) PNG", _with_image(palette_png, ".png")),
    CorpusCase("dicom_no_pixels", "DICOM without PixelData",
               _with_image(dicom_without_pixels, ".dcm"),
               (Expect("image", "error", "DICOM has no pixel data: {image}"),), excluded=True),
    CorpusCase("nifti_3_slices", "NIfTI volume with 3 slices",
               _with_image(nifti_slices, ".nii.gz"),
               (Expect("image", "error", "volume with 3 slices, expected one 2D slice: {image}"),),
               excluded=True),
    CorpusCase("huge_8000", "8000 x 8000 PNG (64 Mpixel, 60 kB on disk)",
               _with_image(huge_png, ".png"),
               (Expect("image", "error", TOO_LARGE),), excluded=True),
    CorpusCase("size_mismatch", "mask 80x60 for an 80x64 image", _mismatch,
               (Expect("mask", "error", "mask size 80x60 does not match the image size 80x64 "
                                        "(width x height)"),), excluded=True),
    CorpusCase("empty_mask", "all-zero mask", _with_mask(np.zeros(SHAPE, bool)),
               (Expect("mask", "error", "mask is empty (no ROI pixel)"),), excluded=True),
    CorpusCase("all_ones_mask", "mask = whole image", _with_mask(np.ones(SHAPE, bool)),
               (Expect("mask", "error",
                       "mask covers the whole image: no lesion outline (all-ones mask)"),),
               excluded=True),
    CorpusCase("one_pixel_roi", "ROI of a single pixel", _with_mask(one_pixel_mask()),
               (Expect("mask", "error", "ROI has 1 pixels, fewer than data.min_roi_pixels = 25"),),
               excluded=True),
    CorpusCase("border_roi", "ROI cut off by the top edge", _with_mask(border_mask()),
               (Expect("mask", "warning",
                       "ROI touches the image border: the lesion may be cut off by the field "
                       "of view (shape features describe the visible part only)"),)),
    CorpusCase("labels_012", "mask with values {0, 1, 2}", _with_raw_mask(mask_with_labels((1, 2))),
               (Expect("mask", "warning",
                       "mask holds 3 values (0, 1, 2); every non-zero pixel is ROI — set "
                       "data.mask_label to use one label only"),)),
    CorpusCase("stray_75", "0/255 mask with stray value 75 on its outline",
               _with_raw_mask(mask_with_stray_value(75)),
               (Expect("mask", "warning",
                       "mask holds 3 values (0, 75, 255); every non-zero pixel is ROI — set "
                       "data.mask_label to use one label only"),)),
    CorpusCase("two_rois", "two disconnected lesions in one mask", _with_mask(two_roi_mask()),
               (Expect("mask", "warning",
                       "mask has 2 disconnected components; all are used as one ROI"),)),
    CorpusCase("non_ascii_path", "non-ASCII characters and spaces in folder and file names",
               _non_ascii),
)
