"""Housing's entry points."""
