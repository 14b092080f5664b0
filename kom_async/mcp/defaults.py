"""The MCP server's default limits, importable without the ``mcp`` extra: ``kom-async mcp --help``
shows them with only the core installed."""

from __future__ import annotations

import resource

DEFAULT_MAX_CLUSTERS = 100
"""Most clusters agents may have registered at once (the operator's do not count)."""

DEFAULT_MAX_REQUEST_BODY = 4 * 1024 * 1024
"""Largest HTTP request body; a larger one is answered 413 before it is read."""

DEFAULT_HEADER_TIMEOUT = 5.0
"""Seconds a connection may take to send a request's headers (from connect or the last response)."""

DEFAULT_MAX_CONNECTIONS = 512
"""Most open HTTP connections (lowered to fit the open-file limit, see ``default_max_connections``)."""

FD_RESERVE = 128
"""File descriptors kept free for everything else: clusters' connections, files, plugins."""


def open_file_limit() -> int:
    """This process's soft limit on open files (``ulimit -n``)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_max_connections() -> int:
    """``DEFAULT_MAX_CONNECTIONS``, or fewer when ``ulimit -n`` leaves less room."""
    return max(16, min(DEFAULT_MAX_CONNECTIONS, open_file_limit() - FD_RESERVE))
