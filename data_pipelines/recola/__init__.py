"""Readers for the RECOLA corpus as released for AVEC 2016 (see RECOLA_FORMAT.md)."""
