"""Regression: uint8 images must not reach pyradiomics (numpy 2 bin-edge overflow)."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from radiomics import featureextractor

from _radiomics_data import SMALL_PARAMS, write_case
from sonomics.radiomics.extract import ExtractionTask, extract_case


def _pyradiomics(array: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    extractor = featureextractor.RadiomicsFeatureExtractor(SMALL_PARAMS)
    result = extractor.execute(sitk.GetImageFromArray(array),
                               sitk.GetImageFromArray(mask.astype(np.uint8)))
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics_")}


def test_uint8_png_gives_float32_features_not_raw_uint8_ones(tmp_path):
    from PIL import Image

    img_path, mask_path = write_case(tmp_path, "u8", seed=7)
    pixels = np.asarray(Image.open(img_path))
    assert pixels.dtype == np.uint8 and pixels.max() == 255
    mask = np.asarray(Image.open(mask_path)) > 0

    ours = extract_case(ExtractionTask("u8", img_path, mask_path), SMALL_PARAMS).features
    as_float = _pyradiomics(pixels.astype(np.float32), mask)
    raw_uint8 = _pyradiomics(pixels, mask)

    texture = [k for k in as_float if "_glcm_" in k or "_glszm_" in k]
    assert texture
    for name in as_float:
        assert ours[name] == as_float[name], name
    differing = [k for k in texture if not np.isclose(raw_uint8[k], as_float[k])]
    assert differing, "raw uint8 no longer differs: the pyradiomics overflow may be fixed"
