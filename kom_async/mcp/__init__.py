"""MCP server exposing the cluster registry and everyday Kubernetes operations as tools.

Run it with ``kom-async mcp`` (stdio) or ``kom-async mcp --transport http``; build one in
code with :func:`kom_async.mcp.server.build_server`. Needs the ``mcp`` extra.
"""

from __future__ import annotations

__all__: list[str] = []
