"""MCP tools that change the registry, not a cluster: list, register and unregister clusters."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.mcp._toolkit import READ, REGISTER, ContextArg, PathArg, ReplaceArg, ToolBase, tool
from kom_async.mcp.output import dumps


class RegistryTools(ToolBase):
    """Register clusters (kubeconfig text/path or EKS name) and list or remove them."""

    @tool(READ)
    async def list_k8s_clusters(self) -> str:
        """List registered clusters: id, server, EKS or not, auth kind, token expiry, last auth error."""
        return dumps({"clusters": [self._cluster_info(c) for c in self.clusters.values()]})

    @tool(REGISTER, registers=True)
    async def register_eks_cluster(
        self,
        kubeconfig: Annotated[
            str | None, Field(description="EKS kubeconfig YAML content (aws eks update-kubeconfig style)")
        ] = None,
        kubeconfig_path: PathArg = None,
        cluster_name: Annotated[
            str | None, Field(description="EKS cluster name, for registration without a kubeconfig")
        ] = None,
        region: Annotated[str | None, Field(description="AWS region of cluster_name")] = None,
        role_arn: Annotated[str | None, Field(description="IAM role to assume for tokens (optional)")] = None,
        profile: Annotated[str | None, Field(description="AWS profile to use (optional)")] = None,
        cluster_id: Annotated[
            str | None, Field(description="Id to register under (default: context name, or <region>-<name>)")
        ] = None,
        context: ContextArg = None,
        replace: ReplaceArg = False,
    ) -> str:
        """Register an AWS EKS cluster from a kubeconfig (content or path) or by cluster_name + region.

        Tokens are minted and refreshed by the server; they never appear in any output.
        """
        if cluster_name or region:
            if kubeconfig or kubeconfig_path or context:
                raise ToolError("pass either cluster_name + region or a kubeconfig, not both")
            if not (cluster_name and region):
                raise ToolError("registration by name needs both cluster_name and region")
            kubectl = await self.clusters.register_eks(
                cluster_name,
                region,
                profile=profile,
                role_arn=role_arn,
                cluster_id=cluster_id,
                replace=replace,
            )
        else:
            if role_arn or profile:
                raise ToolError(
                    "role_arn and profile go with cluster_name + region; a kubeconfig carries its own"
                )
            try:
                kubectl = await self._register_kubeconfig(
                    kubeconfig, kubeconfig_path, cluster_id, context, replace=replace, eks=True
                )
            except EKSAuthError as exc:
                if exc.kind is not EKSAuthErrorKind.InvalidKubeconfig:
                    raise
                raise ToolError(str(exc).replace("register_by_string", "register_k8s_cluster")) from None
        return dumps({"registered": self._cluster_info(self.clusters.get(kubectl.cluster_id))})

    @tool(REGISTER, registers=True)
    async def register_k8s_cluster(
        self,
        kubeconfig: Annotated[str | None, Field(description="Kubeconfig YAML content")] = None,
        kubeconfig_path: PathArg = None,
        cluster_id: Annotated[
            str | None, Field(description="Id to register under (default: the context name)")
        ] = None,
        context: ContextArg = None,
        replace: ReplaceArg = False,
    ) -> str:
        """Register any Kubernetes cluster from a kubeconfig (EKS exec users are detected).

        The kubeconfig is untrusted: exec plugins run only if allowed (default: aws,
        aws-iam-authenticator, kom-async minting tokens) with a harmless env, files only under the
        server's kubeconfig directories, https only; a refused kubeconfig returns an error saying why.
        """
        kubectl = await self._register_kubeconfig(
            kubeconfig, kubeconfig_path, cluster_id, context, replace=replace, eks=False
        )
        return dumps({"registered": self._cluster_info(self.clusters.get(kubectl.cluster_id))})

    @tool(REGISTER, registers=True)
    async def unregister_k8s_cluster(self, cluster: Annotated[str, Field(description="Cluster id")]) -> str:
        """Unregister a cluster: stop its token refresh and close its connections."""
        await self.clusters.unregister(cluster)
        return dumps({"unregistered": cluster, "remaining": list(self.clusters)})
