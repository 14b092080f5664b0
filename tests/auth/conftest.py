"""Fixtures for the core tests (helpers live in core_helpers.py)."""

from core_helpers import clock, make_plugin

__all__ = ["clock", "make_plugin"]
