"""Housing's domain: who a home goes to, quotas, the wijk cap over a window, and its view of clients (pure)."""
