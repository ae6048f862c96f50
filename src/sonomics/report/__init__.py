"""The HTML report: one self-contained page from a run's tables and figures."""
