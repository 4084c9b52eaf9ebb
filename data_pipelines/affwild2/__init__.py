"""Aff-Wild2 (ABAW valence-arousal track) as distributed: its layout, annotations and videos."""
