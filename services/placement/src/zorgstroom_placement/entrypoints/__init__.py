"""Placement's entry points."""
