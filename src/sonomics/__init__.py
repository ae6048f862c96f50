"""sonomics: deep-learning-radiomics nomograms for 2D ultrasound.

Handcrafted radiomics (pyradiomics) and fine-tuned CNN deep features are fused,
selected, classified and combined with clinical factors in a nomogram, following
and extending Wang et al. 2024 (Front. Oncol. 14:1384105).

In Python::

    import sonomics
    study = sonomics.Study.from_config("study/config.yaml")
    study.run()
    study.table(7)
"""

from __future__ import annotations

from typing import Any

from sonomics._version import __version__

__all__ = ["Study", "__version__"]


def __getattr__(name: str) -> Any:
    """``sonomics.Study`` without importing the study (and torch) on ``import sonomics``."""
    if name == "Study":
        from sonomics.study import Study

        return Study
    raise AttributeError(f"module 'sonomics' has no attribute {name!r}")
