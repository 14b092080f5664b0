"""The types of the MCP tools' arguments: what each means, as the JSON schemas show it to agents."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from kom_async.mcp.output import MAX_LIST_LIMIT

Obj = dict[str, Any]

ClusterArg = Annotated[
    str | None,
    Field(description="Cluster id (see list_k8s_clusters); may be omitted when exactly one is registered"),
]
KindArg = Annotated[
    str,
    Field(
        description="Resource kind, plural or short name: 'Pod', 'deployments', 'deploy', "
        "'certificates.cert-manager.io'; with version (and group) it is matched exactly"
    ),
]
GroupArg = Annotated[
    str | None, Field(description="API group for an exact group/version/kind ('' or omitted: core)")
]
VersionArg = Annotated[
    str | None, Field(description="API version for an exact group/version/kind, e.g. 'v1'")
]
NameArg = Annotated[str, Field(description="Object name")]
PodNamespaceArg = Annotated[str | None, Field(description="The pod's namespace (default: 'default')")]
NamespaceArg = Annotated[
    str | None, Field(description="Namespace (default: 'default'; ignored for cluster-scoped kinds)")
]
YamlNamespaceArg = Annotated[
    str | None, Field(description="Namespace for objects that name none (default 'default')")
]
ListNamespaceArg = Annotated[str | None, Field(description="Namespace to list; omitted or '*' means all")]
LabelArg = Annotated[str | None, Field(description="Label selector, e.g. 'app=web,tier!=db'")]
FieldArg = Annotated[str | None, Field(description="Field selector, e.g. 'status.phase=Running'")]
LimitArg = Annotated[
    int,
    Field(
        ge=1,
        description=f"Most objects to return (at most {MAX_LIST_LIMIT}); page with continue_token",
    ),
]
ContextArg = Annotated[str | None, Field(description="Kubeconfig context (default: current-context)")]
ContextIdArg = Annotated[str | None, Field(description="Id to register under (default: the context name)")]
ReplaceArg = Annotated[
    bool,
    Field(
        description="Replace the cluster registered under cluster_id (needs cluster_id; only clusters "
        "registered through these tools can be replaced, never the operator's)"
    ),
]
KubeconfigArg = Annotated[
    str,
    Field(
        description="The kubeconfig: its YAML content, or the path of a kubeconfig file in one of the "
        "server's kubeconfig directories"
    ),
]
ContinueArg = Annotated[
    str | None, Field(description="The 'continue' value of the previous page, to get the next one")
]
