"""sonomics: deep-learning-radiomics nomograms for 2D ultrasound.

Handcrafted radiomics (pyradiomics) and fine-tuned CNN deep features are fused,
selected, classified and combined with clinical factors in a nomogram, following
and extending Wang et al. 2024 (Front. Oncol. 14:1384105).
"""

__version__ = "0.1.0"
