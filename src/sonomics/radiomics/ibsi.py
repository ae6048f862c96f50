"""IBSI-1 validation: pyradiomics features on the IBSI digital phantom vs the reference values.

:data:`IBSI_TAGS` maps pyradiomics feature names (class_Feature) to IBSI-1 tags
(without the aggregation suffix); :func:`compare_with_ibsi` runs pyradiomics on
the phantom with IBSI-aligned settings (no resampling, bin width 1 so that the
phantom's grey levels are kept, 3D with direction-averaged texture matrices, or
2D slice-by-slice with ``force2D``), and gives one row per pyradiomics feature
and per IBSI feature with a verdict:

* ``match``: within the IBSI tolerance;
* ``deviation by design``: pyradiomics defines the feature differently, the
  difference is documented (:data:`DESIGN_DEVIATIONS`) and the converted value
  matches (e.g. plain vs excess kurtosis);
* ``differs``: outside tolerance without a documented reason (the test fails);
* ``not in IBSI``: a pyradiomics feature without an IBSI counterpart;
* ``not in pyradiomics``: an IBSI feature pyradiomics does not compute.

Run ``python -m sonomics.radiomics.ibsi PHANTOM MASK REFERENCE_CSV OUT_CSV`` to
regenerate ``docs/ibsi_mapping.csv``.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

#: pyradiomics "class_Feature" -> IBSI-1 tag stem (aggregation suffix added per mode)
IBSI_TAGS: dict[str, str] = {
    # morphology (3D shape)
    "shape_MeshVolume": "morph_volume", "shape_VoxelVolume": "morph_vol_approx",
    "shape_SurfaceArea": "morph_area_mesh", "shape_SurfaceVolumeRatio": "morph_av",
    "shape_Sphericity": "morph_sphericity", "shape_Maximum3DDiameter": "morph_diam",
    "shape_MajorAxisLength": "morph_pca_maj_axis", "shape_MinorAxisLength": "morph_pca_min_axis",
    "shape_LeastAxisLength": "morph_pca_least_axis", "shape_Elongation": "morph_pca_elongation",
    "shape_Flatness": "morph_pca_flatness",
    # first order: intensity statistics and intensity histogram
    "firstorder_Mean": "stat_mean", "firstorder_Variance": "stat_var",
    "firstorder_Skewness": "stat_skew", "firstorder_Kurtosis": "stat_kurt",
    "firstorder_Median": "stat_median", "firstorder_Minimum": "stat_min",
    "firstorder_10Percentile": "stat_p10", "firstorder_90Percentile": "stat_p90",
    "firstorder_Maximum": "stat_max", "firstorder_InterquartileRange": "stat_iqr",
    "firstorder_Range": "stat_range", "firstorder_MeanAbsoluteDeviation": "stat_mad",
    "firstorder_RobustMeanAbsoluteDeviation": "stat_rmad", "firstorder_Energy": "stat_energy",
    "firstorder_RootMeanSquared": "stat_rms", "firstorder_Entropy": "ih_entropy",
    "firstorder_Uniformity": "ih_uniformity",
    # grey level co-occurrence matrix
    "glcm_Autocorrelation": "cm_auto_corr", "glcm_JointAverage": "cm_joint_avg",
    "glcm_ClusterProminence": "cm_clust_prom", "glcm_ClusterShade": "cm_clust_shade",
    "glcm_ClusterTendency": "cm_clust_tend", "glcm_Contrast": "cm_contrast",
    "glcm_Correlation": "cm_corr", "glcm_DifferenceAverage": "cm_diff_avg",
    "glcm_DifferenceEntropy": "cm_diff_entr", "glcm_DifferenceVariance": "cm_diff_var",
    "glcm_JointEnergy": "cm_energy", "glcm_JointEntropy": "cm_joint_entr",
    "glcm_Imc1": "cm_info_corr1", "glcm_Imc2": "cm_info_corr2", "glcm_Idm": "cm_inv_diff_mom",
    "glcm_Idmn": "cm_inv_diff_mom_norm", "glcm_Id": "cm_inv_diff", "glcm_Idn": "cm_inv_diff_norm",
    "glcm_InverseVariance": "cm_inv_var", "glcm_MaximumProbability": "cm_joint_max",
    "glcm_SumAverage": "cm_sum_avg", "glcm_SumEntropy": "cm_sum_entr",
    "glcm_SumSquares": "cm_joint_var",
    # grey level run length matrix
    "glrlm_ShortRunEmphasis": "rlm_sre", "glrlm_LongRunEmphasis": "rlm_lre",
    "glrlm_LowGrayLevelRunEmphasis": "rlm_lgre", "glrlm_HighGrayLevelRunEmphasis": "rlm_hgre",
    "glrlm_ShortRunLowGrayLevelEmphasis": "rlm_srlge",
    "glrlm_ShortRunHighGrayLevelEmphasis": "rlm_srhge",
    "glrlm_LongRunLowGrayLevelEmphasis": "rlm_lrlge",
    "glrlm_LongRunHighGrayLevelEmphasis": "rlm_lrhge",
    "glrlm_GrayLevelNonUniformity": "rlm_glnu",
    "glrlm_GrayLevelNonUniformityNormalized": "rlm_glnu_norm",
    "glrlm_RunLengthNonUniformity": "rlm_rlnu",
    "glrlm_RunLengthNonUniformityNormalized": "rlm_rlnu_norm",
    "glrlm_RunPercentage": "rlm_r_perc", "glrlm_GrayLevelVariance": "rlm_gl_var",
    "glrlm_RunVariance": "rlm_rl_var", "glrlm_RunEntropy": "rlm_rl_entr",
    # grey level size zone matrix
    "glszm_SmallAreaEmphasis": "szm_sze", "glszm_LargeAreaEmphasis": "szm_lze",
    "glszm_LowGrayLevelZoneEmphasis": "szm_lgze", "glszm_HighGrayLevelZoneEmphasis": "szm_hgze",
    "glszm_SmallAreaLowGrayLevelEmphasis": "szm_szlge",
    "glszm_SmallAreaHighGrayLevelEmphasis": "szm_szhge",
    "glszm_LargeAreaLowGrayLevelEmphasis": "szm_lzlge",
    "glszm_LargeAreaHighGrayLevelEmphasis": "szm_lzhge",
    "glszm_GrayLevelNonUniformity": "szm_glnu",
    "glszm_GrayLevelNonUniformityNormalized": "szm_glnu_norm",
    "glszm_SizeZoneNonUniformity": "szm_zsnu",
    "glszm_SizeZoneNonUniformityNormalized": "szm_zsnu_norm",
    "glszm_ZonePercentage": "szm_z_perc", "glszm_GrayLevelVariance": "szm_gl_var",
    "glszm_ZoneVariance": "szm_zs_var", "glszm_ZoneEntropy": "szm_zs_entr",
    # grey level dependence matrix (IBSI: neighbouring grey level dependence, alpha = 0)
    "gldm_SmallDependenceEmphasis": "ngl_lde", "gldm_LargeDependenceEmphasis": "ngl_hde",
    "gldm_LowGrayLevelEmphasis": "ngl_lgce", "gldm_HighGrayLevelEmphasis": "ngl_hgce",
    "gldm_SmallDependenceLowGrayLevelEmphasis": "ngl_ldlge",
    "gldm_SmallDependenceHighGrayLevelEmphasis": "ngl_ldhge",
    "gldm_LargeDependenceLowGrayLevelEmphasis": "ngl_hdlge",
    "gldm_LargeDependenceHighGrayLevelEmphasis": "ngl_hdhge",
    "gldm_GrayLevelNonUniformity": "ngl_glnu",
    "gldm_DependenceNonUniformity": "ngl_dcnu",
    "gldm_DependenceNonUniformityNormalized": "ngl_dcnu_norm",
    "gldm_GrayLevelVariance": "ngl_gl_var", "gldm_DependenceVariance": "ngl_dc_var",
    "gldm_DependenceEntropy": "ngl_dc_entr",
    # neighbourhood grey tone difference matrix
    "ngtdm_Coarseness": "ngt_coarseness", "ngtdm_Contrast": "ngt_contrast",
    "ngtdm_Busyness": "ngt_busyness", "ngtdm_Complexity": "ngt_complexity",
    "ngtdm_Strength": "ngt_strength",
}

#: pyradiomics features with no IBSI-1 counterpart, and why
NOT_IN_IBSI: dict[str, str] = {
    "firstorder_TotalEnergy": "energy x voxel volume (pyradiomics extension)",
    "firstorder_StandardDeviation": "square root of stat_var (not a separate IBSI feature)",
    "glcm_MCC": "maximal correlation coefficient (not in IBSI-1)",
    "shape_Compactness1": "deprecated in pyradiomics (IBSI morph_comp_1 not reported by it)",
    "shape_Compactness2": "deprecated in pyradiomics (IBSI morph_comp_2 not reported by it)",
    "shape_SphericalDisproportion": "deprecated in pyradiomics",
    "shape_Maximum2DDiameterSlice": "per-plane maximum diameter (no IBSI counterpart)",
    "shape_Maximum2DDiameterColumn": "per-plane maximum diameter (no IBSI counterpart)",
    "shape_Maximum2DDiameterRow": "per-plane maximum diameter (no IBSI counterpart)",
}

#: documented definitional differences: name -> (reason, (pyradiomics value, n ROI voxels)
#: -> value on the IBSI definition)
DESIGN_DEVIATIONS: dict[str, tuple[str, Callable[[float, int], float]]] = {
    "firstorder_Kurtosis": ("pyradiomics reports plain kurtosis, IBSI excess kurtosis "
                            "(plain - 3)", lambda v, n: v - 3.0),
    **{f"shape_{axis}AxisLength": (
        "pyradiomics takes PCA eigenvalues of the 1/N (population) covariance; the IBSI "
        "reference values correspond to the 1/(N-1) covariance: x sqrt(N/(N-1))",
        lambda v, n: v * math.sqrt(n / (n - 1)))
       for axis in ("Major", "Minor", "Least")},
}

#: settings matching IBSI-1's digital phantom protocol (no resampling, no re-binning)
IBSI_PHANTOM_SETTINGS: dict[str, object] = {
    "binWidth": 1, "label": 1, "resampledPixelSpacing": None, "distances": [1],
    "symmetricalGLCM": True, "gldm_a": 0, "voxelArrayShift": 0, "additionalInfo": False,
}


def _run_pyradiomics(image: Path, mask: Path, mode: str) -> dict[str, float]:
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    settings = dict(IBSI_PHANTOM_SETTINGS)
    classes = ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"]
    if mode == "3D":
        classes.append("shape")
    else:
        settings.update(force2D=True, force2Ddimension=0)
    extractor = featureextractor.RadiomicsFeatureExtractor(
        {"setting": settings, "imageType": {"Original": {}},
         "featureClass": {c: None for c in classes}})
    raw = extractor.execute(str(image), str(mask))
    return {k.removeprefix("original_"): float(v) for k, v in raw.items()
            if not k.startswith("diagnostics_")}


def _roi_voxels(mask: Path) -> int:
    import SimpleITK as sitk

    return int((sitk.GetArrayFromImage(sitk.ReadImage(str(mask))) > 0).sum())


def allowed_difference(reference: float, tolerance: float) -> float:
    """IBSI tolerance plus half a unit of the reference's 3rd significant digit.

    The IBSI-1 manual publishes values rounded to 3 significant digits (tolerance 0
    for the digital phantom), so a value matches when it rounds to the reference.
    """
    if reference == 0:
        return tolerance + 5e-4
    return tolerance + 0.5 * 10.0 ** (math.floor(math.log10(abs(reference))) - 2) * (1 + 1e-9)


def _suffix(stem: str, mode: str) -> str:
    """IBSI tag for a stem: texture tags carry the aggregation (3D_avg, 2_5D_avg, ...)."""
    family = stem.split("_")[0]
    if family in ("cm", "rlm"):
        return f"{stem}_{'3D_avg' if mode == '3D' else '2_5D_avg'}"
    if family in ("szm", "ngl", "ngt", "dzm"):
        return f"{stem}_{'3D' if mode == '3D' else '2_5D'}"
    return stem


def compare_with_ibsi(image: Path, mask: Path, reference_csv: Path,
                      mode: str = "3D") -> pd.DataFrame:
    """One row per pyradiomics and per IBSI feature with value, reference, tolerance, verdict.

    ``mode`` "3D": direction-averaged 3D matrices (IBSI ``*_3D_avg``/``*_3D``);
    "2.5D": pyradiomics ``force2D`` (in-plane directions, slices merged per
    direction, features averaged over directions; IBSI ``*_2_5D_avg``/``*_2_5D``).
    """
    if mode not in ("3D", "2.5D"):
        raise ValueError(f"mode: must be '3D' or '2.5D', got {mode!r}")
    ref = pd.read_csv(reference_csv, encoding="utf-8-sig")
    ref = ref.set_index(ref["tag"].str.strip())
    ours = _run_pyradiomics(image, mask, mode)
    n_voxels = _roi_voxels(mask)
    rows, mapped_tags = [], set()
    for name, value in ours.items():
        stem = IBSI_TAGS.get(name)
        if stem is None:
            rows.append({"pyradiomics": name, "ibsi_tag": "", "value": value,
                         "reference": np.nan, "tolerance": np.nan, "compared_value": np.nan,
                         "verdict": "not in IBSI", "note": NOT_IN_IBSI.get(name, "")})
            continue
        tag = _suffix(stem, mode)
        mapped_tags.add(tag)
        if tag not in ref.index:
            rows.append({"pyradiomics": name, "ibsi_tag": tag, "value": value,
                         "reference": np.nan, "tolerance": np.nan, "compared_value": np.nan,
                         "verdict": "no reference value", "note": ""})
            continue
        reference = float(ref.loc[tag, "reference value"])
        tolerance = float(ref.loc[tag, "tolerance"])
        note, compared, verdict = "", value, "match"
        if name in DESIGN_DEVIATIONS:
            note, convert = DESIGN_DEVIATIONS[name]
            compared = convert(value, n_voxels)
            verdict = "deviation by design"
        if not abs(compared - reference) <= allowed_difference(reference, tolerance):
            verdict = "differs"
        rows.append({"pyradiomics": name, "ibsi_tag": tag, "value": value,
                     "reference": reference, "tolerance": tolerance,
                     "compared_value": compared, "verdict": verdict, "note": note})
    prefixes = ("morph_", "stat_", "ih_", "ivh_", "loc_") if mode == "3D" else ()
    suffixes = ("_3D_avg", "_3D") if mode == "3D" else ("_2_5D_avg", "_2_5D")
    for tag, ref_row in ref.iterrows():
        if (tag.startswith(prefixes) or tag.endswith(suffixes)) and tag not in mapped_tags:
            rows.append({"pyradiomics": "", "ibsi_tag": tag, "value": np.nan,
                         "reference": float(ref_row["reference value"]),
                         "tolerance": float(ref_row["tolerance"]), "compared_value": np.nan,
                         "verdict": "not in pyradiomics", "note": str(ref_row["feature"])})
    out = pd.DataFrame(rows)
    out.insert(0, "mode", mode)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m sonomics.radiomics.ibsi PHANTOM MASK REFERENCE_CSV OUT_CSV``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print(main.__doc__)
        return 2
    image, mask, ref, out = (Path(a) for a in args)
    table = pd.concat([compare_with_ibsi(image, mask, ref, m) for m in ("3D", "2.5D")])
    from sonomics.io import atomic_write_text

    atomic_write_text(out, table.to_csv(index=False))
    print(table.groupby(["mode", "verdict"]).size().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
