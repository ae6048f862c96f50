"""IBSI-1 digital phantom: every comparable pyradiomics feature within the IBSI tolerance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sonomics.radiomics.ibsi import IBSI_TAGS, allowed_difference, compare_with_ibsi

FIXTURES = Path(__file__).parent / "fixtures" / "ibsi"
DOCS_TABLE = Path(__file__).resolve().parents[1] / "docs" / "ibsi_mapping.csv"


@pytest.fixture(scope="module", params=["3D", "2.5D"])
def comparison(request) -> pd.DataFrame:
    return compare_with_ibsi(FIXTURES / "phantom.nii.gz", FIXTURES / "mask.nii.gz",
                             FIXTURES / "reference_digital_phantom.csv", mode=request.param)


def test_every_comparable_feature_is_within_tolerance(comparison):
    differs = comparison[comparison["verdict"] == "differs"]
    assert differs.empty, differs[["pyradiomics", "ibsi_tag", "value", "reference"]].to_string()
    compared = comparison[comparison["verdict"].isin(["match", "deviation by design"])]
    assert len(compared) >= 90
    for _, row in compared.iterrows():
        assert abs(row["compared_value"] - row["reference"]) <= allowed_difference(
            row["reference"], row["tolerance"])


def test_documented_deviations_are_the_known_ones(comparison):
    by_design = set(comparison.loc[comparison["verdict"] == "deviation by design", "pyradiomics"])
    assert "firstorder_Kurtosis" in by_design
    assert by_design <= {"firstorder_Kurtosis", "shape_MajorAxisLength",
                         "shape_MinorAxisLength", "shape_LeastAxisLength"}
    kurt = comparison.set_index("pyradiomics").loc["firstorder_Kurtosis"]
    assert kurt["value"] == pytest.approx(kurt["reference"] + 3, abs=1e-3)


def test_every_mapped_feature_was_computed(comparison):
    computed = set(comparison["pyradiomics"])
    mode = comparison["mode"].iloc[0]
    expected = {n for n in IBSI_TAGS if mode == "3D" or not n.startswith("shape_")}
    assert expected <= computed


def test_committed_mapping_table_is_current(comparison):
    committed = pd.read_csv(DOCS_TABLE)
    mode = comparison["mode"].iloc[0]
    committed = committed[committed["mode"] == mode]
    key = ["pyradiomics", "ibsi_tag", "verdict"]
    got = comparison[key].fillna("").sort_values(key).reset_index(drop=True)
    want = committed[key].fillna("").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
