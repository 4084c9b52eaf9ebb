"""Data pipelines: RECOLA reading and synthetic corpus generation."""
