"""Placement's domain: waiting-list priority (matching, capacity and caps follow). No I/O."""
