"""Placement's use cases: each opens (or, for an event, receives) a unit of work, loads, asks the domain,
writes and emits. It raises application errors (runtime.errors), never HTTP, and knows no database."""
