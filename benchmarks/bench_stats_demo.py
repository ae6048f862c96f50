"""Tables 3-4 and Supplementary Table 1 on the SYNTHETIC demo cohort, with timings.

Not a test: it renders the 526 demo cases in memory, extracts handcrafted
features for both readers, computes ICC(2,1), and runs the clinical model
(Supp. Table 1 + Table 3) and the radiomics family (Table 4), timing each
family. By default only the Original image type is extracted (~100 features,
fast on 2 cores); ``--all-image-types`` uses the shipped 2D parameter file.

    .venv/bin/python benchmarks/bench_stats_demo.py [--out DIR] [--all-image-types]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from sonomics.data.demo import (
    CATEGORICAL_VARIABLES,
    CONTINUOUS_VARIABLES,
    DemoSettings,
    generate_clinical,
    render_case,
)
from sonomics.evaluation.icc import icc_features
from sonomics.io import to_markdown, write_table
from sonomics.models.clinical import clinical_model
from sonomics.models.family import feature_family
from sonomics.radiomics.extract import extract_arrays
from sonomics.radiomics.params import load_params

REFERENCE = {"shape": "Regular", "margin": "Well-defined", "posterior_enhancement": "Present",
             "gender": "Female", "smoking": "Absent", "drinking": "Absent",
             "echogenicity": "Homogeneous", "cystic_component": "Absent",
             "calcification": "Absent"}


def _features(clinical: pd.DataFrame, settings: DemoSettings, params: dict
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    seeds = np.random.SeedSequence(settings.seed).spawn(len(clinical))
    r1, r2 = [], []
    for (_, row), seq in zip(clinical.iterrows(), seeds, strict=True):
        image, mask, mask2 = render_case(row, settings, np.random.default_rng(seq))
        spacing = (settings.pixel_spacing_mm,) * 2
        r1.append(extract_arrays(image, mask, params, spacing=spacing).features)
        r2.append(extract_arrays(image, mask2, params, spacing=spacing).features)
    idx = clinical["case_id"]
    return pd.DataFrame(r1, index=idx), pd.DataFrame(r2, index=idx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench-stats"))
    ap.add_argument("--all-image-types", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    settings = DemoSettings()
    clinical = generate_clinical(settings)
    y = (clinical["label"] == "malignant").astype(int).to_numpy()
    tr, te = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=42)

    t0 = time.perf_counter()
    analysis, clin = clinical_model(clinical.iloc[tr], y[tr], clinical.iloc[te], y[te],
                                    continuous=CONTINUOUS_VARIABLES,
                                    categorical=CATEGORICAL_VARIABLES, reference=REFERENCE)
    t_clin = time.perf_counter() - t0

    params = load_params()
    if not args.all_image_types:
        params = {**params, "imageType": {"Original": {}}}
    t0 = time.perf_counter()
    f1, f2 = _features(clinical, settings, params)
    t_extract = time.perf_counter() - t0
    train_ids = clinical["case_id"].iloc[tr]
    icc_ids = train_ids.sample(100, random_state=42)  # paper: 100 random patients
    ratings = np.stack([f1.loc[icc_ids].to_numpy(float), f2.loc[icc_ids].to_numpy(float)], 1)
    t0 = time.perf_counter()
    icc = icc_features(ratings, list(f1.columns), form="ICC2")
    t_icc = time.perf_counter() - t0
    t0 = time.perf_counter()
    rad = feature_family(f1.iloc[tr], y[tr], f1.iloc[te], y[te], family="Radiomics",
                         icc_table=icc)
    t_rad = time.perf_counter() - t0

    write_table(analysis.table, args.out, "supp_table1_clinical_lr")
    write_table(clin.table, args.out, "table3_clinical")
    write_table(rad.table, args.out, "table4_radiomics")
    selected = rad.models[rad.best].named_steps["select"].get_feature_names_out()
    print(f"SYNTHETIC demo cohort: {len(y)} cases ({y.sum()} malignant), train {len(tr)}, "
          f"test {len(te)}")
    print(f"clinical factors retained: {analysis.selected_variables}")
    print(f"clinical family (7 classifiers): {t_clin:.1f} s; best by CV AUC: {clin.best}")
    print(to_markdown(clin.table))
    print(f"features per reader: {f1.shape[1]} (extraction {t_extract:.1f} s); ICC(2,1) "
          f"on 100 training cases in {t_icc * 1000:.1f} ms; ICC >= 0.85: "
          f"{int((icc['icc'] >= 0.85).sum())}")
    print(f"radiomics family (selection in every fold, 7 classifiers): {t_rad:.1f} s; best: "
          f"{rad.best}; {len(selected)} features selected by its pipeline")
    print(to_markdown(rad.table))


if __name__ == "__main__":
    main()
