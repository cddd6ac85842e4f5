"""Intake's domain: the BSN check, its pseudonym, and who is responsible. No I/O."""
