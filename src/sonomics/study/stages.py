"""The study's stage list, in run order (one line per Methods section)."""

from __future__ import annotations

from sonomics.study.baseline import BASELINE
from sonomics.study.bundle import BUNDLE
from sonomics.study.checklists.stage import CHECKLIST_STAGE
from sonomics.study.clinical import CLINICAL
from sonomics.study.cohort import SPLIT, VALIDATE
from sonomics.study.comparators import COMPARATOR_STAGE
from sonomics.study.deep import DEEP
from sonomics.study.evaluation import EVALUATION
from sonomics.study.fusion import FUSION
from sonomics.study.nomogram import NOMOGRAM
from sonomics.study.radiomics import RADIOMICS
from sonomics.study.radiomics_model import RADIOMICS_MODEL
from sonomics.study.report import report_stage
from sonomics.study.segmentation import SEGMENT

_METHODS = [VALIDATE, SPLIT, SEGMENT, BASELINE, CLINICAL, RADIOMICS, RADIOMICS_MODEL, DEEP, FUSION,
            COMPARATOR_STAGE, NOMOGRAM, EVALUATION, CHECKLIST_STAGE]
STAGES = [*_METHODS, report_stage(_METHODS), BUNDLE]
