"""Placement's adapters: SQL on its own schema."""
