"""Helpers for the Python integration tests: the server process, participants, events, media."""
