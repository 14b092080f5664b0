"""Tokens: the model, the caching provider, the sources, and the refresh task."""
