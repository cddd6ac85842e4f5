"""Reporting's entry points: HTTP reports and the event subscription."""
