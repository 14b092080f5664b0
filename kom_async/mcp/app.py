"""The MCP server object: the SDK's ``MCPServer``, with wrong tool arguments reported as one
line an agent can act on (the SDK passes pydantic's multi-line report through)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import ValidationError


class KomMCPServer(MCPServer[Any]):
    """``MCPServer`` whose argument errors read ``tool: wrong arguments: field: problem; ...``."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError) or not isinstance(cause, ValidationError):
                raise
            raise ToolError(wrong_arguments(name, cause)) from cause


def wrong_arguments(tool: str, error: ValidationError) -> str:
    """One line naming each wrong argument and what is wrong with it (never its value)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        message = str(item["msg"])
        problems.append(f"{where}: {message[:1].lower()}{message[1:]}")
    return f"{tool}: wrong arguments: {'; '.join(problems)} (see the tool's input schema)"
