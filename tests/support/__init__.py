"""Helpers shared by the test suites: infrastructure, running services, reading topics."""
