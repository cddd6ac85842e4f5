"""Reporting's domain: the numbers of a report worked out from facts, without I/O."""
