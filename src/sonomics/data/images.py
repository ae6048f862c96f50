"""Reading ultrasound images and lesion masks into plain 2D arrays.

Every reader returns a single-channel ``float32`` array (rows x columns) plus
the pixel spacing in millimetres. Choices, documented for users:

* Colour (RGB/RGBA/palette) becomes one channel: a grey image stored as colour
  (R = G = B) keeps its grey values exactly; real colour by ITU-R BT.601 luminance,
  ``Y = 0.299 R + 0.587 G + 0.114 B`` in float64 (what PIL's ``"L"`` conversion does),
  computed in floating point; an alpha channel is composited onto black, so a
  transparent background reads as 0.
* 16-bit images keep their full range (no rescaling to 8 bit).
* ``float32`` is deliberate: with numpy 2, pyradiomics computes wrong texture
  features for ``uint8`` input (its bin edges overflow), so nothing downstream
  ever sees an unsigned 8-bit array.
* JPEG/TIFF EXIF orientation is applied, as a viewer would show the image.
* Spacing comes from DICOM ``PixelSpacing`` / NIfTI / NRRD headers; PNG, JPEG,
  BMP and TIFF have none, so the spacing is 1.0 (pixels) unless the manifest
  gives a spacing column.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
ITK_SUFFIXES = {".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"}
SUPPORTED = sorted(RASTER_SUFFIXES | DICOM_SUFFIXES | ITK_SUFFIXES)

#: images with more pixels than this are refused rather than loaded (memory bound)
MAX_PIXELS = 40_000_000


class ImageReadError(ValueError):
    """An image or mask file cannot be read as a 2D picture."""


@dataclass(frozen=True)
class LoadedImage:
    """A 2D image as float32 with its pixel spacing (row, column) in mm."""

    array: np.ndarray
    spacing: tuple[float, float]
    spacing_source: str  # "header", "manifest" or "default"

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape  # type: ignore[return-value]


def suffix_of(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def read_image(path: str | Path) -> LoadedImage:
    """Read one image file as a single-channel float32 array with its spacing."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise ImageReadError(f"file is empty (0 bytes): {path}")
    suffix = suffix_of(path)
    if suffix in RASTER_SUFFIXES:
        array, spacing, source = _read_raster(path), (1.0, 1.0), "default"
    elif suffix in DICOM_SUFFIXES:
        array, spacing, source = _read_dicom(path)
    elif suffix in ITK_SUFFIXES:
        array, spacing, source = _read_itk(path)
    else:
        raise ImageReadError(f"unsupported file type '{suffix}' ({path.name}); "
                             f"supported: {', '.join(SUPPORTED)}")
    if array.ndim != 2 or min(array.shape) < 2:
        raise ImageReadError(f"not a 2D image (shape {array.shape}): {path}")
    if not np.isfinite(array).all():
        raise ImageReadError(f"image holds NaN or infinite pixel values: {path}")
    return LoadedImage(np.ascontiguousarray(array, dtype=np.float32), spacing, source)


#: separator of several mask files that together form one ROI (BUSI's NAME_mask_1.png, …)
MASK_SEPARATOR = "|"


def read_mask(path: str | Path, label: int | None = None) -> np.ndarray:
    """Read a mask file as a boolean array: ``label`` pixels, or every non-zero pixel.

    Colour masks are reduced with the same luminance as images, so a white-on-black
    RGB(A) mask works; a mask is only ever compared with 0 or with ``label``.
    Several files joined by ``|`` are read as one ROI (their union); they must
    have the same size.
    """
    parts = str(path).split(MASK_SEPARATOR)
    masks = [_read_one_mask(p, label) for p in parts]
    for p, m in zip(parts[1:], masks[1:], strict=True):
        if m.shape != masks[0].shape:
            raise ImageReadError(f"mask parts differ in size ({masks[0].shape} vs {m.shape}): {p}")
    return np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]


def mask_values(path: str | Path) -> np.ndarray:
    """The distinct pixel values of a mask file (for spotting stray labels)."""
    parts = str(path).split(MASK_SEPARATOR)
    return np.unique(np.concatenate([np.unique(read_image(p).array) for p in parts]))


def _read_one_mask(path: str | Path, label: int | None) -> np.ndarray:
    array = read_image(path).array
    if label is None:
        return array > 0
    return np.isclose(array, float(label))


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag of a raster image (1 = stored as displayed; 2-8 = flipped
    or rotated for display), 1 for formats without EXIF or unreadable files."""
    from PIL import Image

    path = Path(str(path).split(MASK_SEPARATOR)[0])
    if suffix_of(path) not in (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp"):
        return 1
    try:
        with Image.open(path) as img:
            return int(img.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, SyntaxError):
        return 1


def _check_size(width: int, height: int, path: Path) -> None:
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"image too large ({width}x{height} = {width * height:,} pixels; limit "
            f"{MAX_PIXELS:,}): {path}. Downsample it, or crop it to the scan area.")


def _read_raster(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # PIL warns between 1x and 2x its limit; _check_size refuses those images with
            # one clear error instead, so the warning would only be noise on stderr
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            _check_size(img.width, img.height, path)
            img = ImageOps.exif_transpose(img)
            img.load()
            return _to_grey(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        # PIL refuses images over twice its limit before the size is known to us
        raise ImageReadError(
            f"image too large (over {2 * MAX_PIXELS:,} pixels; limit {MAX_PIXELS:,}): "
            f"{path}. Downsample it, or crop it to the scan area.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"unreadable or truncated image ({exc}): {path}") from None


def _to_grey(img) -> np.ndarray:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("1", "L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.float32)
    if mode == "LA":
        arr = np.asarray(img, dtype=np.float32)
        return arr[..., 0] * (arr[..., 1] / 255.0)
    if mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in mode else "RGB")
    arr = np.asarray(img)
    grey = luminance(arr[..., :3])
    if arr.shape[-1] == 4:
        grey = grey * (arr[..., 3].astype(np.float64) / 255.0)
    return grey.astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey values of an ``(..., 3)`` colour array (float64).

    A grey image stored as colour (R = G = B, e.g. an ultrasound frame saved as RGB) gives
    its grey values exactly; otherwise ITU-R BT.601 ``0.299 R + 0.587 G + 0.114 B``,
    computed in float64 (float32 weights put 13% of a grey image's pixels off by ~2e-5).
    """
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    if np.array_equal(r, g) and np.array_equal(g, b):
        return r
    return r * 0.299 + g * 0.587 + b * 0.114


def _read_dicom(path: Path) -> tuple[np.ndarray, tuple[float, float], str]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError) as exc:
        raise ImageReadError(f"unreadable DICOM ({exc}): {path}") from None
    if "PixelData" not in ds:
        raise ImageReadError(f"DICOM has no pixel data: {path}")
    try:
        arr = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for bad pixel data
        raise ImageReadError(f"DICOM pixel data cannot be decoded ({exc}): {path}") from None
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and "MONOCHROME" not in photometric:
        arr = luminance(arr[..., :3]).astype(np.float32)
    elif arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if photometric == "MONOCHROME1":
        arr = arr.max() - arr
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    arr = arr * slope + intercept
    spacing_tag = getattr(ds, "PixelSpacing", None) or getattr(
        ds, "ImagerPixelSpacing", None)
    if spacing_tag is None:
        region = getattr(ds, "SequenceOfUltrasoundRegions", None)
        if region:  # ultrasound regions give cm per pixel
            r = region[0]
            dx, dy = getattr(r, "PhysicalDeltaX", None), getattr(r, "PhysicalDeltaY", None)
            if dx and dy:
                return arr, (abs(float(dy)) * 10.0, abs(float(dx)) * 10.0), "header"
        return arr, (1.0, 1.0), "default"
    return arr, (float(spacing_tag[0]), float(spacing_tag[1])), "header"


def _read_itk(path: Path) -> tuple[np.ndarray, tuple[float, float], str]:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ImageReadError(f"unreadable image ({str(exc).strip().splitlines()[-1]}): "
                             f"{path}") from None
    if img.GetNumberOfComponentsPerPixel() > 1:
        img = sitk.VectorIndexSelectionCast(img, 0)
    arr = sitk.GetArrayFromImage(img)
    spacing = img.GetSpacing()
    if arr.ndim == 3:
        if arr.shape[0] != 1:
            raise ImageReadError(f"volume with {arr.shape[0]} slices, expected one 2D slice: "
                                 f"{path}")
        arr = arr[0]
    # SimpleITK spacing is (x, y[, z]) = (column, row)
    return arr.astype(np.float32), (float(spacing[1]), float(spacing[0])), "header"
