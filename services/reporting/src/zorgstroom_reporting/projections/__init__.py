"""Projections: events folded into rows (rows.py), written a batch at a time (writer.py)."""
