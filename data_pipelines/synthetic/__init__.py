"""Synthetic RECOLA-like corpus: emotion model, face, voice and file writers."""
