"""zorgstroom_placement."""
