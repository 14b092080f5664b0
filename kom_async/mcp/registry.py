"""MCP tools that change the registry, not a cluster: list, register and unregister clusters."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.kubectl import Kubectl
from kom_async.mcp.args import ContextArg, ContextIdArg, KubeconfigArg, ReplaceArg
from kom_async.mcp.results import ClusterList, Registered, Unregistered
from kom_async.mcp.toolbase import READ, REGISTER, ToolBase, tool


class RegistryTools(ToolBase):
    """Register clusters (kubeconfig text/path or EKS name) and list or remove them."""

    @tool(READ)
    async def list_k8s_clusters(self) -> ClusterList:
        """List registered clusters: id, server, EKS or not, auth kind, token expiry, last auth error."""
        return {"clusters": [self._cluster_info(c) for c in self.clusters.values()]}

    @tool(REGISTER, registers=True)
    async def register_eks_cluster(
        self,
        kubeconfig: KubeconfigArg,
        cluster_id: ContextIdArg = None,
        context: ContextArg = None,
        replace: ReplaceArg = False,
    ) -> Registered:
        """Register an AWS EKS cluster from a kubeconfig (aws eks update-kubeconfig style), given as
        content or as a file path.

        Without a kubeconfig, use register_eks_cluster_by_name (cluster_name + region); for other
        clusters, register_k8s_cluster. Tokens are minted and refreshed by the server; they never
        appear in any output.
        """
        try:
            kubectl = await self._register_kubeconfig(
                kubeconfig, cluster_id, context, replace=replace, eks=True
            )
        except EKSAuthError as exc:
            if exc.kind is not EKSAuthErrorKind.InvalidKubeconfig:
                raise
            raise ToolError(f"{exc}; a kubeconfig without EKS registers with register_k8s_cluster") from None
        return self._registered(kubectl)

    @tool(REGISTER, registers=True)
    async def register_eks_cluster_by_name(
        self,
        cluster_name: Annotated[str, Field(description="The EKS cluster's name")],
        region: Annotated[str, Field(description="The AWS region the cluster is in, e.g. eu-west-1")],
        role_arn: Annotated[str | None, Field(description="IAM role to assume for tokens (optional)")] = None,
        profile: Annotated[str | None, Field(description="AWS profile to use (optional)")] = None,
        cluster_id: Annotated[
            str | None, Field(description="Id to register under (default: <region>-<cluster_name>)")
        ] = None,
        replace: ReplaceArg = False,
    ) -> Registered:
        """Register an AWS EKS cluster by name, without a kubeconfig: EKS DescribeCluster gives its
        endpoint and CA, and the server's AWS credentials mint its tokens."""
        kubectl = await self._agent_registers(
            cluster_id,
            replace,
            lambda: self.clusters.register_eks(
                cluster_name,
                region,
                profile=profile,
                role_arn=role_arn,
                cluster_id=cluster_id,
                replace=replace,
            ),
        )
        return self._registered(kubectl)

    @tool(REGISTER, registers=True)
    async def register_k8s_cluster(
        self,
        kubeconfig: KubeconfigArg,
        cluster_id: ContextIdArg = None,
        context: ContextArg = None,
        replace: ReplaceArg = False,
    ) -> Registered:
        """Register any Kubernetes cluster from a kubeconfig, given as content or as a file path (EKS
        exec users are detected).

        The kubeconfig is untrusted: exec plugins run only if allowed (default: aws,
        aws-iam-authenticator, kom-async minting tokens) with a harmless env, files only under the
        server's kubeconfig directories, https only; a refused kubeconfig returns an error saying why.
        """
        kubectl = await self._register_kubeconfig(kubeconfig, cluster_id, context, replace=replace, eks=False)
        return self._registered(kubectl)

    @tool(REGISTER, registers=True)
    async def unregister_k8s_cluster(
        self, cluster: Annotated[str, Field(description="Cluster id")]
    ) -> Unregistered:
        """Unregister a cluster registered through these tools: stop its token refresh and close its
        connections. The operator's clusters (preloaded, or registered by the server's own code)
        cannot be unregistered by a tool call."""
        self.clusters.get(cluster)  # an unknown id: ClusterNotFound, listing the known ones
        self.owners.check_change(cluster, "unregister")
        self.owners.forget(cluster)
        await self.clusters.unregister(cluster)
        return {"unregistered": cluster, "remaining": list(self.clusters)}

    def _registered(self, kubectl: Kubectl) -> Registered:
        """The tool result of a registration: what list_k8s_clusters shows of the new cluster."""
        return {"registered": self._cluster_info(self.clusters.get(kubectl.cluster_id))}
