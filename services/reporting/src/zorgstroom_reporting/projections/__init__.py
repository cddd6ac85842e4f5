"""Projections: one handler per event type, applied in the consumer's transaction."""
