"""CNN transfer learning, deep features and Grad-CAM (the paper's section 2.5, Table 5, Fig. 3).

Modules: :mod:`~sonomics.deep.backbones` (registry, weights), :mod:`~sonomics.deep.preprocess`
(crop, resize, z-score, augmentation), :mod:`~sonomics.deep.dataset` (cached crops),
:mod:`~sonomics.deep.runtime` (device, threads, seeds), :mod:`~sonomics.deep.train`
(fine-tuning, checkpoints, resume), :mod:`~sonomics.deep.figures` (training curves),
:mod:`~sonomics.deep.features` (GAP features + PCA), :mod:`~sonomics.deep.oof` (out-of-fold
CNN scores), :mod:`~sonomics.deep.gradcam` (Figure 3) and :mod:`~sonomics.deep.pipeline`
(train, evaluate and explain the backbones; the study's deep stage calls it). Nothing is
imported here, so ``import sonomics`` stays fast and does not load torch.
"""
