"""MCP tools that only read a cluster: list, get, describe, events, pods, logs, API resources."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from kom_async.errors import KomError
from kom_async.kubectl.names import escape_field_value
from kom_async.mcp.args import (
    ClusterArg,
    ContinueArg,
    FieldArg,
    GroupArg,
    KindArg,
    LabelArg,
    LimitArg,
    ListNamespaceArg,
    NameArg,
    NamespaceArg,
    PodNamespaceArg,
    VersionArg,
)
from kom_async.mcp.output import (
    MAX_LIST_LIMIT,
    MAX_RESULT_CHARS,
    MAX_TEXT_CHARS,
    dumps,
    event_line,
    mentions,
    namespace_line,
    pod_line,
    slim,
    tail_text,
)
from kom_async.mcp.results import (
    APIResources,
    Described,
    EventPage,
    KubeObject,
    NamespacePage,
    ObjectPage,
    Page,
    PodLog,
    PodPage,
)
from kom_async.mcp.toolbase import READ, ToolBase, tool

_CUT_NOTE = "[older lines cut: narrow with tail_lines or since_seconds]\n"


def _log_text(result: PodLog) -> str:
    """The text an agent reads of a log: the lines, after a note when older ones were cut."""
    return (_CUT_NOTE if result["truncated"] else "") + result["log"]


class ReadTools(ToolBase):
    """Tools that never change a cluster (allowed on a read-only server)."""

    @tool(READ)
    async def list_k8s_resource(
        self,
        kind: KindArg,
        cluster: ClusterArg = None,
        namespace: ListNamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
        label_selector: LabelArg = None,
        field_selector: FieldArg = None,
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> ObjectPage:
        """List objects of any kind (built-in or custom), one page at a time (managedFields dropped).

        Secret values (data, stringData) show as their size unless the server runs with --show-secrets.
        """
        kubectl = self._kubectl(cluster)
        limit = min(limit, MAX_LIST_LIMIT)
        while True:
            page: ObjectPage = await self._list(
                kubectl,
                kind,
                group=group,
                version=version,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                continue_token=continue_token,
            )
            if len(dumps(page)) <= MAX_RESULT_CHARS or limit == 1:
                return page
            limit = max(1, limit // 2)  # big objects: ask again for a smaller page, same position

    @tool(READ)
    async def list_k8s_api_resources(self, cluster: ClusterArg = None) -> APIResources:
        """What kinds the cluster serves (like kubectl api-resources): names usable as 'kind'."""
        resources = await self._kubectl(cluster).api_resources()
        return {
            "resources": [
                {
                    "kind": r.kind,
                    "name": r.plural if not r.group else f"{r.plural}.{r.group}",
                    "apiVersion": r.api_version,
                    "namespaced": r.namespaced,
                    "short_names": list(r.short_names),
                }
                for r in resources
                if "/" not in r.plural
            ]
        }

    @tool(READ)
    async def get_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
    ) -> KubeObject:
        """Get one object of any kind as JSON (managedFields dropped).

        Secret values (data, stringData) show as their size unless the server runs with --show-secrets.
        """
        query = await self._one(cluster, kind, name, namespace, group, version)
        shown: KubeObject = slim(self._shown(await query.get()))
        return shown

    @tool(READ)
    async def describe_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
    ) -> Described:
        """Like kubectl describe: the object plus the events that mention it.

        Secret values (data, stringData) show as their size unless the server runs with --show-secrets.
        """
        kubectl = self._kubectl(cluster)  # resolved once: the events come from the same cluster
        query = await self._one(kubectl.cluster_id, kind, name, namespace, group, version)
        obj = await query.get()
        meta = obj.get("metadata") or {}
        selector = f"involvedObject.name={escape_field_value(name)}"
        if meta.get("namespace"):
            selector += f",involvedObject.namespace={escape_field_value(str(meta['namespace']))}"
        result: Described = {"object": slim(self._shown(obj))}
        try:
            events: Page[KubeObject] = await self._list(
                kubectl,
                "events",
                namespace=meta.get("namespace"),
                field_selector=selector,
                limit=MAX_LIST_LIMIT,
            )
            result["events"] = [event_line(e) for e in events["items"] if mentions(e, obj)]
        except KomError as exc:
            result["events_error"] = str(exc)
        return result

    @tool(READ)
    async def list_k8s_namespace(
        self,
        cluster: ClusterArg = None,
        label_selector: LabelArg = None,
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> NamespacePage:
        """List namespaces (name, phase, labels)."""
        page = await self._list(
            self._kubectl(cluster),
            "namespaces",
            label_selector=label_selector,
            limit=limit,
            continue_token=continue_token,
            show=namespace_line,
        )
        return page

    @tool(READ)
    async def list_k8s_event(
        self,
        cluster: ClusterArg = None,
        namespace: ListNamespaceArg = None,
        involved_object_name: Annotated[str | None, Field(description="Only events about this object")] = (
            None
        ),
        involved_object_kind: Annotated[str | None, Field(description="Only events about this kind")] = (
            None
        ),
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> EventPage:
        """List events (type, reason, object, message, count, last seen)."""
        fields = []
        if involved_object_name:
            fields.append(f"involvedObject.name={escape_field_value(involved_object_name)}")
        if involved_object_kind:
            fields.append(f"involvedObject.kind={escape_field_value(involved_object_kind)}")
        page = await self._list(
            self._kubectl(cluster),
            "events",
            version="v1",
            namespace=namespace,
            field_selector=",".join(fields) or None,
            limit=limit,
            continue_token=continue_token,
            show=event_line,
        )
        return page

    @tool(READ)
    async def list_k8s_pod(
        self,
        cluster: ClusterArg = None,
        namespace: ListNamespaceArg = None,
        label_selector: LabelArg = None,
        field_selector: FieldArg = None,
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> PodPage:
        """List pods with their phase, node, readiness, restarts and images (get_k8s_resource for all)."""
        page = await self._list(
            self._kubectl(cluster),
            "pods",
            version="v1",
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_token=continue_token,
            show=pod_line,
        )
        return page

    @tool(READ, text=_log_text)
    async def get_k8s_pod_logs(
        self,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: PodNamespaceArg = None,
        container: Annotated[str | None, Field(description="Container, when the pod has several")] = None,
        tail_lines: Annotated[int | None, Field(ge=1, description="Only the last N lines")] = 200,
        since_seconds: Annotated[int | None, Field(ge=1, description="Only lines newer than this")] = None,
        previous: Annotated[bool, Field(description="Logs of the previous (crashed) container")] = False,
    ) -> PodLog:
        """A pod's log text (newest lines, at most 64k characters); the text content is the log
        itself, the structured content names the pod and says whether older lines were cut."""
        kubectl = self._kubectl(cluster)
        namespace = namespace or "default"
        logs = kubectl.pod(name, namespace).logs(
            container=container, tail_lines=tail_lines, since_seconds=since_seconds, previous=previous
        )
        text, cut_early = await logs.tail(4 * MAX_TEXT_CHARS)  # bytes kept while reading: a bound
        text, cut = tail_text(text)
        return {
            "pod": name,
            "namespace": namespace,
            "container": container,
            "log": text,
            "truncated": cut or cut_early,
        }
