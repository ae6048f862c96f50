"""Reporting checklists (TRIPOD+AI, CLAIM, METRICS) filled from a finished run.

``facts`` reads the run once; ``texts`` writes the sentences items share; ``tripod``,
``claim`` and ``metrics`` map each item to its answer; ``stage`` writes the tables and the
METRICS score and declares their place in the report.
"""
