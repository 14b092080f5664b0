"""Whose cluster is each id: the MCP tools record what agents registered; every other cluster in
the registry (preloaded, or registered by the operator's own code) belongs to the operator, and
no tool call may replace or unregister it. Agents' registrations are capped (``--max-clusters``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mcp.server.mcpserver.exceptions import ToolError

from kom_async.clusters import Cluster, Clusters
from kom_async.errors import ClusterExistsError
from kom_async.kubectl import Kubectl
from kom_async.mcp.defaults import DEFAULT_MAX_CLUSTERS

"""Most clusters agents may have registered at once (``--max-clusters``)."""


class Owners:
    """The one place every registry-changing tool asks before it changes the registry."""

    def __init__(self, clusters: Clusters, max_clusters: int = DEFAULT_MAX_CLUSTERS) -> None:
        self._clusters = clusters
        self._max = max_clusters
        self._agents: dict[str, Cluster] = {}  # id -> the cluster an agent registered under it
        self._pending = 0  # agent registrations in flight (they count against the cap)

    def agent_owns(self, cluster_id: str) -> bool:
        """True when the cluster now under ``cluster_id`` is one an agent registered (the very
        object: if the operator's code replaced it since, it is the operator's again)."""
        cluster = self._agents.get(cluster_id)
        return (
            cluster is not None and cluster_id in self._clusters and self._clusters.get(cluster_id) is cluster
        )

    def check_change(self, cluster_id: str, action: str) -> None:
        """Refuse ``action`` ("replace", "unregister") on a cluster the operator registered."""
        if cluster_id in self._clusters and not self.agent_owns(cluster_id):
            raise ToolError(
                f"refused: cluster {cluster_id!r} was registered by the server's operator, and a tool "
                f"call cannot {action} it; register your cluster under another cluster_id "
                f"(e.g. {cluster_id + '-2'!r}), or ask the operator"
            )

    def agent_count(self) -> int:
        """How many clusters agents registered that are still in the registry."""
        for cid in [c for c in self._agents if not self.agent_owns(c)]:
            del self._agents[cid]
        return len(self._agents)

    @contextlib.contextmanager
    def registering(self, cluster_id: str | None, replace: bool) -> Iterator[None]:
        """Around one agent registration: replacing needs an id the agent owns, and a new
        cluster needs room under the cap (registrations in flight count)."""
        if replace:
            if cluster_id is None:
                raise ToolError("replace=True needs cluster_id: the id of the cluster to replace")
            self.check_change(cluster_id, "replace")
        replacing_own = replace and cluster_id is not None and self.agent_owns(cluster_id)
        if not replacing_own and self.agent_count() + self._pending >= self._max:
            raise ToolError(
                f"refused: agents have registered {self._max} clusters, the most this server allows "
                f"(--max-clusters {self._max}); unregister one with unregister_k8s_cluster first"
            )
        self._pending += 1
        try:
            yield
        except ClusterExistsError as exc:  # the default id (the context's name) was taken
            self.check_change(exc.cluster_id, "replace")
            raise
        finally:
            self._pending -= 1

    def record(self, kubectl: Kubectl) -> None:
        """Note that an agent registered ``kubectl``'s cluster (it may replace or remove it)."""
        self._agents[kubectl.cluster_id] = self._clusters.get(kubectl.cluster_id)

    def forget(self, cluster_id: str) -> None:
        """An agent unregistered ``cluster_id``."""
        self._agents.pop(cluster_id, None)
