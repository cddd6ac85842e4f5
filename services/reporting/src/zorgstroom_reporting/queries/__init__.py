"""Read side of reporting: pure shaping of monthly figures, and the SQL that feeds it."""
