"""Intake's adapters: SQL on its own schema."""
