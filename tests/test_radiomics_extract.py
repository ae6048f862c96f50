"""One-case extraction: feature names and count, spacing policy, parameter overrides."""

from __future__ import annotations

import numpy as np
import pytest

from _radiomics_data import SMALL_PARAMS, lesion_arrays, write_case
from sonomics.config import RadiomicsConfig
from sonomics.radiomics.extract import ExtractionError, ExtractionTask, extract_arrays, extract_case
from sonomics.radiomics.params import (
    RadiomicsParamsError,
    load_params,
    params_digest,
    validate_params,
)


def test_shipped_params_give_at_least_1497_features(tmp_path):
    img, msk = write_case(tmp_path, "c1", seed=1)
    result = extract_case(ExtractionTask("c1", img, msk), load_params())
    names = list(result.features)
    assert len(names) >= 1497
    assert {"original_glcm_Contrast", "original_shape2D_PixelSurface",
            "wavelet-HH_glszm_ZoneEntropy", "lbp-2D_firstorder_Mean",
            "log-sigma-5-0-mm-3D_ngtdm_Busyness"} <= set(names)
    assert all(np.isfinite(v) for k, v in result.features.items() if "shape2D" in k)
    assert result.diagnostics["diagnostics_sonomics_shape_unit"] == "pixel"


def test_shape_in_mm_when_spacing_known_while_texture_sees_pixels():
    image, mask = lesion_arrays(seed=2)
    plain = extract_arrays(image, mask, SMALL_PARAMS)
    mm = extract_arrays(image, mask, SMALL_PARAMS, spacing=(0.1, 0.2))
    assert mm.features["original_shape2D_PixelSurface"] == pytest.approx(
        plain.features["original_shape2D_PixelSurface"] * 0.02)
    assert mm.diagnostics["diagnostics_sonomics_shape_unit"] == "mm"
    texture = [k for k in plain.features if "shape2D" not in k]
    assert all(mm.features[k] == plain.features[k] for k in texture)


def test_sigma_in_mm_changes_the_log_filter():
    image, mask = lesion_arrays(seed=3)
    px = extract_arrays(image, mask, SMALL_PARAMS, spacing=(0.5, 0.5))
    mm = extract_arrays(image, mask, SMALL_PARAMS, spacing=(0.5, 0.5), sigma_in_pixels=False)
    key = "log-sigma-1-0-mm-3D_firstorder_Mean"
    assert mm.features[key] != pytest.approx(px.features[key])
    assert mm.features["original_firstorder_Mean"] == pytest.approx(
        px.features["original_firstorder_Mean"])


def test_bin_count_from_config_replaces_bin_width():
    params = load_params(RadiomicsConfig(bin_count=16))
    assert params["setting"]["binCount"] == 16 and "binWidth" not in params["setting"]
    params = load_params(RadiomicsConfig(bin_width=10))
    assert params["setting"]["binWidth"] == 10 and "binCount" not in params["setting"]
    assert params_digest(params) != params_digest(load_params())


def test_user_parameter_file_is_read(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("imageType: {Original: {}}\nfeatureClass: {firstorder: }\n")
    params = load_params(RadiomicsConfig(params=path))
    assert list(params["imageType"]) == ["Original"]
    assert params["setting"]["binWidth"] == 25.0


@pytest.mark.parametrize(("params", "message"), [
    ({"imageType": {"Original": {}}, "setting": {"force2D": True}}, "force2D"),
    ({"imageType": {"Sobel": {}}}, "unknown imageType"),
    ({"imageType": {"Original": {}}, "featureClass": {"glcmx": None}}, "unknown featureClass"),
    ({"imageType": {}}, "imageType is empty"),
    ({"imageType": {"Original": {}}, "setting": {"binWidth": 5, "binCount": 8}}, "both"),
])
def test_invalid_parameters_name_the_key(params, message):
    with pytest.raises(RadiomicsParamsError, match=message):
        validate_params(params)


def test_bad_masks_raise_one_clear_error():
    image, mask = lesion_arrays(seed=4)
    with pytest.raises(ExtractionError, match="mask is empty"):
        extract_arrays(image, np.zeros_like(mask), SMALL_PARAMS, case_id="x")
    with pytest.raises(ExtractionError, match="whole image"):
        extract_arrays(image, np.ones_like(mask), SMALL_PARAMS, case_id="x")
    with pytest.raises(ExtractionError, match="min_roi_pixels=100000"):
        extract_arrays(image, mask, SMALL_PARAMS, min_roi_pixels=100000, case_id="x")


def test_mask_shape_mismatch_names_the_case(tmp_path):
    img, _ = write_case(tmp_path, "a", seed=5)
    from PIL import Image

    small = tmp_path / "small.png"
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(small)
    with pytest.raises(ExtractionError, match="case a: mask shape"):
        extract_case(ExtractionTask("a", img, small), SMALL_PARAMS)
