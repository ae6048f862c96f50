"""A small, generic engine for resumable stages; it knows nothing of radiomics or the paper.

A :class:`Stage` declares what it needs (other stages), the settings it reads, the files
whose content it reads and the run-directory outputs it owns; :class:`Runner` orders the
stages, fingerprints each one, skips what is unchanged and complete, and records time and
peak memory. The study (``sonomics.study``) is one list of such stages.
"""

from sonomics.pipeline.runner import Runner, StageRecord, recorded_seconds
from sonomics.pipeline.stage import Stage, StageSkipped

__all__ = ["Runner", "Stage", "StageRecord", "StageSkipped", "recorded_seconds"]
