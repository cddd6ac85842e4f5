"""zorgstroom_reporting."""
