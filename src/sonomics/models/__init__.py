"""Models: the classifier registry and families, the clinical model, fusion, the nomogram
and the comparators."""
