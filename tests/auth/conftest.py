"""Fixtures for the auth tests (helpers live in auth_helpers.py)."""

from auth_helpers import clock, make_plugin

__all__ = ["clock", "make_plugin"]
