"""Image and mask reading: formats, channels, bit depth, spacing, EXIF, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomics.data.images import ImageReadError, read_image, read_mask


def test_png_grey_is_float32(tmp_path: Path):
    arr = np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) % 256
    Image.fromarray(arr.astype(np.uint8)).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.array.dtype == np.float32 and img.shape == (48, 64)
    assert np.array_equal(img.array, arr.astype(np.float32))
    assert img.spacing == (1.0, 1.0) and img.spacing_source == "default"


def test_rgb_becomes_bt601_luminance(tmp_path: Path):
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    Image.fromarray(rgb).save(tmp_path / "c.png")
    value = read_image(tmp_path / "c.png").array[0, 0]
    assert value == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50, abs=1e-4)


def test_rgba_transparent_background_reads_as_zero(tmp_path: Path):
    rgba = np.full((10, 12, 4), 180, np.uint8)
    rgba[..., 3] = 255
    rgba[:5, :, 3] = 0  # transparent top half
    Image.fromarray(rgba).save(tmp_path / "t.png")
    arr = read_image(tmp_path / "t.png").array
    assert np.all(arr[:5] == 0) and np.allclose(arr[5:], 180, atol=1e-3)


def test_palette_png(tmp_path: Path):
    img = Image.fromarray(np.tile(np.arange(12, dtype=np.uint8) * 20, (10, 1))).convert("P")
    img.save(tmp_path / "p.png")
    arr = read_image(tmp_path / "p.png").array
    assert arr.shape == (10, 12) and arr[0, 5] == pytest.approx(100, abs=1)


def test_sixteen_bit_is_preserved(tmp_path: Path):
    arr = (np.arange(100, dtype=np.uint16) * 600).reshape(10, 10)
    Image.fromarray(arr).save(tmp_path / "d.png")
    out = read_image(tmp_path / "d.png").array
    assert out.max() == 59400 and np.array_equal(out, arr.astype(np.float32))


def test_jpeg_exif_rotation_is_applied(tmp_path: Path):
    arr = np.zeros((20, 40), np.uint8)
    arr[:, :10] = 255  # bright left band
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "r.jpg").array
    assert out.shape == (40, 20)
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the band is now on top


@pytest.mark.parametrize("suffix", [".bmp", ".tif"])
def test_bmp_and_tiff(tmp_path: Path, suffix: str):
    arr = np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / f"x{suffix}")
    assert np.array_equal(read_image(tmp_path / f"x{suffix}").array, arr.astype(np.float32))


def test_nifti_and_nrrd_spacing(tmp_path: Path):
    import SimpleITK as sitk

    arr = np.random.default_rng(1).integers(0, 1000, (1, 20, 30)).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.2, 0.3, 1.0))  # x (columns), y (rows), z
    for name in ("a.nii.gz", "a.nrrd"):
        sitk.WriteImage(img, str(tmp_path / name))
        out = read_image(tmp_path / name)
        assert out.shape == (20, 30) and out.spacing == pytest.approx((0.3, 0.2))
        assert out.spacing_source == "header"


def test_nifti_with_several_slices_is_refused(tmp_path: Path):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 8, 8), np.int16)),
                    str(tmp_path / "v.nii.gz"))
    with pytest.raises(ImageReadError, match="3 slices"):
        read_image(tmp_path / "v.nii.gz")


def _dicom(path: Path, with_pixels: bool = True) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.Modality = "US"
    if with_pixels:
        arr = (np.arange(12 * 16) % 4000).reshape(12, 16).astype(np.uint16)
        ds.Rows, ds.Columns = arr.shape
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelSpacing = [0.12, 0.15]
        ds.PixelData = arr.tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_dicom_pixels_and_spacing(tmp_path: Path):
    _dicom(tmp_path / "a.dcm")
    out = read_image(tmp_path / "a.dcm")
    assert out.shape == (12, 16) and out.array.max() == 191
    assert out.spacing == pytest.approx((0.12, 0.15)) and out.spacing_source == "header"


def test_dicom_without_pixel_data(tmp_path: Path):
    _dicom(tmp_path / "e.dcm", with_pixels=False)
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_image(tmp_path / "e.dcm")


def test_zero_byte_and_unknown_type(tmp_path: Path):
    (tmp_path / "z.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="0 bytes"):
        read_image(tmp_path / "z.png")
    (tmp_path / "q.gif2").write_bytes(b"x")
    with pytest.raises(ImageReadError, match="unsupported file type"):
        read_image(tmp_path / "q.gif2")


def test_mask_label_and_union_of_parts(tmp_path: Path):
    a = np.zeros((10, 10), np.uint8)
    a[1:4, 1:4] = 1
    a[6:8, 6:8] = 2
    Image.fromarray(a).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").sum() == 13
    assert read_mask(tmp_path / "m.png", label=2).sum() == 4
    b = np.zeros((10, 10), np.uint8)
    b[0, :] = 255
    Image.fromarray(b).save(tmp_path / "m1.png")
    union = read_mask(f"{tmp_path / 'm.png'}|{tmp_path / 'm1.png'}")
    assert union.sum() == 13 + 10
