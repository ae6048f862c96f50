"""Handcrafted radiomics: pyradiomics parameters, parallel cached extraction, reproducibility.

* :mod:`~sonomics.radiomics.params` - the shipped 2D parameter file and config overrides;
* :mod:`~sonomics.radiomics.extract` - one case (image + mask -> features + diagnostics);
* :mod:`~sonomics.radiomics.cache` - content-addressed Parquet cache;
* :mod:`~sonomics.radiomics.engine` - many cases: processes or Dask, resumable, failures kept;
* :mod:`~sonomics.radiomics.perturbation` - perturbation pseudo-readers (mask changes);
* :mod:`~sonomics.radiomics.reproducibility` - per-feature ICC tables, pseudo-reader tasks;
* :mod:`~sonomics.radiomics.cohort` - cohort-level tasks and ICC (the study's radiomics stage);
* :mod:`~sonomics.radiomics.ibsi` - IBSI-1 digital phantom comparison.
"""

from sonomics.radiomics.engine import ExtractionResult, run_extraction
from sonomics.radiomics.extract import CaseResult, ExtractionTask, extract_case
from sonomics.radiomics.params import load_params

__all__ = [
    "CaseResult", "ExtractionResult", "ExtractionTask", "extract_case", "load_params",
    "run_extraction",
]
