"""zorgstroom_runtime."""
