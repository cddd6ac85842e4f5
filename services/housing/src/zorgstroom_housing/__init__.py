"""zorgstroom_housing."""
