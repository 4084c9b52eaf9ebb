"""Grain input pipeline: window tables, loaders and datasets over the built TFDS dataset or a feature cache."""
