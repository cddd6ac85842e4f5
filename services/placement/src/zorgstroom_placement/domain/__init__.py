"""Placement's domain: the waiting list, matching, facilities and caps, readiness, doorstroom, transfers. No I/O."""
