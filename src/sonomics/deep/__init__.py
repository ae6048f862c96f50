"""CNN transfer learning, deep features and Grad-CAM (the paper's section 2.5, Table 5, Fig. 3).

Modules: :mod:`~sonomics.deep.backbones` (registry, weights), :mod:`~sonomics.deep.preprocess`
(crop, resize, z-score, augmentation), :mod:`~sonomics.deep.dataset` (cached crops),
:mod:`~sonomics.deep.train` (fine-tuning, checkpoints, resume), :mod:`~sonomics.deep.features`
(GAP features + PCA), :mod:`~sonomics.deep.gradcam` (Figure 3), :mod:`~sonomics.deep.pipeline`
(the stage end to end) and :mod:`~sonomics.deep.cli` (``sonomics deep``). Nothing is imported
here, so ``import sonomics`` stays fast and does not load torch.
"""
