"""The MCP tools: register clusters (EKS included) and do everyday Kubernetes work on them.

Every tool returns a typed result (``results.py``): the client sees its ``outputSchema``, gets
``structuredContent`` and, as text, the same compact JSON (pod logs: the log text). Failures become MCP tool
errors carrying a one-line reason (the API server's own message for Kubernetes errors), never
a traceback; no output ever holds a token, and Secret values show only as their size unless
the operator starts the server with ``--show-secrets``. The tools live in three groups:
``registry`` (clusters), ``read`` and ``write`` (refused on a read-only server).
"""

from __future__ import annotations

from kom_async.mcp.read import ReadTools
from kom_async.mcp.registry import RegistryTools
from kom_async.mcp.write import WriteTools


class KomTools(RegistryTools, ReadTools, WriteTools):
    """Every tool over one ``Clusters`` registry; ``install`` adds them to a server."""
