"""Evaluation: metrics at a training cut-off, DeLong, calibration, decision curves, ICC,
baseline tables, figures, and the row order of the paper's performance tables."""
