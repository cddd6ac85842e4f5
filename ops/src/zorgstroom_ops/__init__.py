"""Operator tooling for Zorgstroom: processes, credentials, the simulated year, reports."""
