"""Automatic lesion segmentation: a 2D U-Net learnt from a cohort's own reader-1 masks.

The seed paper names automatic segmentation as its future work: every image needs a
hand-drawn mask today, for training and for every new patient. This package trains a
segmenter on the TRAINING cases' masks (:mod:`~sonomics.segment.train`), applies it with
or without a box prompt and cleans its output (:mod:`~sonomics.segment.geometry`), and
measures it against readers (:mod:`~sonomics.segment.metrics`). Networks come from
``segmentation-models-pytorch`` (:mod:`~sonomics.segment.network`).
"""
