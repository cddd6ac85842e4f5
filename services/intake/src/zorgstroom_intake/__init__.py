"""zorgstroom_intake."""
