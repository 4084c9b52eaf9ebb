"""Scoring the AVEC way: a model over a split, frame-level predictions, CCC, post-processing, output files."""
