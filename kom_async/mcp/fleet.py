"""The operator's fleet tool: ``discover_eks_clusters``, on only when the server was started
with the regions (and roles) it may use (``--discover-region``, ``--discover-role-arn``).

An agent may narrow a run (some of those regions, a name glob) and prune what discovery
registered; it can never name another role or region. Clusters found are registered like
any other the agents use (ids ``<account>-<region>-<name>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from kom_async.mcp.results import Discovered
from kom_async.mcp.toolbase import REGISTER, ToolBase, ToolSettings, tool

if TYPE_CHECKING:
    from kom_async.clusters import Clusters


@dataclass(frozen=True)
class DiscoverySettings:
    """Where the operator lets the tool look: these regions, with these roles (none: the
    server's own AWS identity)."""

    regions: tuple[str, ...]
    role_arns: tuple[str, ...] = ()


class FleetTools(ToolBase):
    """``discover_eks_clusters`` over one registry, with the operator's discovery settings."""

    def __init__(self, clusters: Clusters, settings: ToolSettings, discovery: DiscoverySettings) -> None:
        super().__init__(clusters, settings)
        self.discovery = discovery

    @tool(REGISTER, registers=True)
    async def discover_eks_clusters(
        self,
        regions: Annotated[
            list[str] | None,
            Field(description="Some of the server's discovery regions (default: all of them)"),
        ] = None,
        name_filter: Annotated[
            str | None, Field(description="Only clusters whose name matches this glob, e.g. 'prod-*'")
        ] = None,
        prune: Annotated[
            bool,
            Field(description="Also unregister clusters an earlier discovery registered that are gone"),
        ] = False,
    ) -> Discovered:
        """Find the AWS EKS clusters of the accounts and regions this server's operator allowed and
        register each ACTIVE one (id <account>-<region>-<name>; already registered ones are left
        alone). Returns what was registered, kept and unregistered, and which (account, region)
        pairs failed and why."""
        allowed = self.discovery.regions
        chosen = list(regions) if regions else list(allowed)
        outside = [r for r in chosen if r not in allowed]
        if outside:
            raise ToolError(
                f"region {outside[0]!r} is not one this server may discover in; "
                f"use some of: {', '.join(allowed)}"
            )
        result = await self.clusters.discover_eks(
            chosen, role_arns=list(self.discovery.role_arns), name_filter=name_filter, prune=prune
        )
        return {
            "registered": result.registered,
            "kept": result.kept,
            "unregistered": result.unregistered,
            "found": [
                {"account": c.account, "region": c.region, "name": c.name, "status": c.status}
                for c in result.found
            ],
            "failures": [
                {"account": f.account, "region": f.region, "cluster": f.cluster, "error": str(f.error)}
                for f in result.failures
            ],
        }
