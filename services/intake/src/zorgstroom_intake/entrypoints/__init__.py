"""Intake's entry points: HTTP only."""
