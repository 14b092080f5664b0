"""MCP tools that change a cluster: delete, patch, apply YAML, scale, restart, cordon (refused read-only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from kom_async.config.yamlload import YAMLBoundError, load_one
from kom_async.errors import NotFound
from kom_async.kubectl.apply import load_documents
from kom_async.mcp.args import (
    ClusterArg,
    GroupArg,
    KindArg,
    NameArg,
    NamespaceArg,
    VersionArg,
    YamlNamespaceArg,
)
from kom_async.mcp.output import ref, slim, status_word
from kom_async.mcp.results import (
    Applied,
    Deleted,
    KubeObject,
    NodeSchedule,
    Restarted,
    Scaled,
    YAMLDeleted,
    YAMLDeleteResult,
)
from kom_async.mcp.toolbase import DESTRUCTIVE, WRITE, ToolBase, tool


class WriteTools(ToolBase):
    """Tools that change a cluster; a read-only server refuses them."""

    @tool(DESTRUCTIVE, writes=True)
    async def delete_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
        propagation_policy: Annotated[
            Literal["Foreground", "Background", "Orphan"] | None,
            Field(description="How dependents are deleted (server default when omitted)"),
        ] = None,
    ) -> Deleted:
        """Delete one object of any kind."""
        query = await self._one(cluster, kind, name, namespace, group, version)
        answer = await query.delete(propagation_policy=propagation_policy)
        return {"deleted": ref(answer, fallback_name=name), "status": status_word(answer)}

    @tool(WRITE, writes=True)
    async def patch_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        patch: Annotated[
            dict[str, Any] | list[dict[str, Any]] | str,
            Field(description="The patch: an object fragment, a JSON-patch list, or their JSON/YAML text"),
        ],
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
        patch_type: Annotated[
            Literal["merge", "strategic", "json"], Field(description="merge (default), strategic or json")
        ] = "merge",
    ) -> KubeObject:
        """Patch one object of any kind (merge, strategic-merge or JSON patch); returns the result
        (Secret values shown as their size unless the server runs with --show-secrets)."""
        body: Any = patch
        if isinstance(patch, str):
            try:
                body = load_one(patch)
            except YAMLBoundError as exc:
                raise ToolError(f"patch text is refused: {exc}; send a patch without YAML aliases") from None
            except yaml.YAMLError:
                raise ToolError("patch text is neither JSON nor YAML") from None
        query = await self._one(cluster, kind, name, namespace, group, version)
        patched: KubeObject = slim(self._shown(await query.patch(body, patch_type)))
        return patched

    @tool(WRITE, writes=True)
    async def apply_k8s_yaml(
        self,
        yaml_text: Annotated[str, Field(description="One or more YAML documents ('---' separated)")],
        cluster: ClusterArg = None,
        namespace: YamlNamespaceArg = None,
    ) -> Applied:
        """Create or update every object in a multi-document YAML (server-side apply), in order."""
        kubectl = self._kubectl(cluster)
        stored = await kubectl.apply(yaml_text, namespace=namespace)
        return {"applied": [ref(obj) for obj in stored]}

    @tool(DESTRUCTIVE, writes=True)
    async def delete_k8s_yaml(
        self,
        yaml_text: Annotated[str, Field(description="The YAML that was applied")],
        cluster: ClusterArg = None,
        namespace: YamlNamespaceArg = None,
    ) -> YAMLDeleted:
        """Delete every object named in a multi-document YAML (in reverse order; missing ones are skipped)."""
        kubectl = self._kubectl(cluster)
        results: list[YAMLDeleteResult] = []
        for doc in reversed(load_documents(yaml_text)):
            api_version = str(doc["apiVersion"])
            group, _, version = api_version.rpartition("/")
            meta = doc["metadata"]
            name = str(meta["name"])
            query = kubectl.gvk(group, version, str(doc["kind"])).name(name)
            await self._resolve(kubectl, str(doc["kind"]), group, version)
            ns = meta.get("namespace") or namespace
            if ns:
                query = query.namespace(str(ns))
            result: YAMLDeleteResult = {"kind": str(doc["kind"]), "name": name, "deleted": True}
            if ns:
                result["namespace"] = str(ns)
            try:
                await query.delete()
            except NotFound:
                result["deleted"] = False
                result["reason"] = "not found"
            results.append(result)
        return {"results": results}

    @tool(WRITE, writes=True)
    async def scale_k8s_deployment(
        self,
        name: NameArg,
        replicas: Annotated[int, Field(ge=0, description="Desired replica count")],
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
    ) -> Scaled:
        """Set a deployment's replica count (the scale subresource)."""
        kubectl = self._kubectl(cluster)
        scale = await kubectl.deployment(name, namespace or "default").scale(replicas)
        return {
            "deployment": name,
            "namespace": namespace or "default",
            "replicas": int((scale.get("spec") or {}).get("replicas", replicas)),
        }

    @tool(WRITE, writes=True)
    async def restart_k8s_deployment(
        self, name: NameArg, cluster: ClusterArg = None, namespace: NamespaceArg = None
    ) -> Restarted:
        """Roll a deployment's pods, like kubectl rollout restart."""
        kubectl = self._kubectl(cluster)
        obj = await kubectl.deployment(name, namespace or "default").restart()
        template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        restarted = (template.get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")
        return {"deployment": name, "namespace": namespace or "default", "restartedAt": restarted}

    @tool(WRITE, writes=True)
    async def cordon_k8s_node(self, name: NameArg, cluster: ClusterArg = None) -> NodeSchedule:
        """Mark a node unschedulable."""
        obj = await self._kubectl(cluster).node(name).cordon()
        return {"node": name, "unschedulable": bool((obj.get("spec") or {}).get("unschedulable"))}

    @tool(WRITE, writes=True)
    async def uncordon_k8s_node(self, name: NameArg, cluster: ClusterArg = None) -> NodeSchedule:
        """Make a node schedulable again."""
        obj = await self._kubectl(cluster).node(name).uncordon()
        return {"node": name, "unschedulable": bool((obj.get("spec") or {}).get("unschedulable"))}
