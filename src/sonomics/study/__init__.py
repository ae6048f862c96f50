"""The study: the paper's Methods as declared stages, one module per section.

Reading order = run order: :mod:`~sonomics.study.cohort` (validation, split),
:mod:`~sonomics.study.baseline` (Tables 1-2), :mod:`~sonomics.study.clinical` (Table 3),
:mod:`~sonomics.study.radiomics` (features, ICC), :mod:`~sonomics.study.radiomics_model`
(Table 4), :mod:`~sonomics.study.deep` (Table 5), :mod:`~sonomics.study.fusion` (Table 6),
:mod:`~sonomics.study.nomogram` (Figure 6), :mod:`~sonomics.study.comparators` (Table 8),
:mod:`~sonomics.study.evaluation` (Table 7), :mod:`~sonomics.study.report` and
:mod:`~sonomics.study.bundle`. Adding a stage is one module ending in its ``Stage`` and
one line in :data:`STAGES`. :class:`Study` runs them (also from a notebook).
"""

from sonomics.study.api import Study
from sonomics.study.stages import STAGES

__all__ = ["STAGES", "Study"]
