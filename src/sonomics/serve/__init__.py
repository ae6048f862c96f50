"""``sonomics serve``: a finished study's bundle as a local web page and JSON API.

One patient in (an ultrasound image, its ROI, the clinical factors), every model's
probability, the class at the training cut-off, the nomogram with the patient's points and
the Grad-CAM overlay out. Scoring goes through :func:`sonomics.predict.score_manifest`, the
path ``sonomics predict`` uses, so the page and the command line give the same numbers.
"""
