"""Housing's domain (unit offers and quotas; matching follows). No I/O."""
