"""What the MCP tools return: one TypedDict per result shape, from which the MCP SDK derives each
tool's ``outputSchema`` (and checks the ``structuredContent`` sent). Kubernetes objects of any
kind stay ``dict[str, Any]`` (a generic JSON object in the schema)."""

from __future__ import annotations

from typing import Any, Generic, NotRequired, TypeVar

# typing_extensions.TypedDict: pydantic below Python 3.12 reads only these (nested ones too).
from typing_extensions import TypedDict

T = TypeVar("T")

KubeObject = dict[str, Any]


class EKSInfo(TypedDict):
    """How an EKS cluster's tokens are minted."""

    cluster_name: str
    region: str | None
    role_arn: NotRequired[str]
    profile: NotRequired[str]


class TokenInfo(TypedDict):
    """Token health of a cluster whose tokens the server mints (never the token)."""

    source: str
    expires_at: str | None
    fetches: int
    refresh_failures: int
    unauthorized_recoveries: int
    last_success: str | None
    last_error: str | None


class ClusterInfo(TypedDict):
    """A registered cluster: identity and auth health."""

    id: str
    server: str
    is_eks: bool
    auth: str
    eks: NotRequired[EKSInfo]
    token: NotRequired[TokenInfo]


class ClusterList(TypedDict):
    """The registered clusters."""

    clusters: list[ClusterInfo]


class Registered(TypedDict):
    """The cluster a register tool added."""

    registered: ClusterInfo


class Unregistered(TypedDict):
    """The cluster removed and the ids still registered."""

    unregistered: str
    remaining: list[str]


class APIResource(TypedDict):
    """A kind the cluster serves; ``name`` is usable as a tool's ``kind``."""

    kind: str
    name: str
    apiVersion: str
    namespaced: bool
    short_names: list[str]


class APIResources(TypedDict):
    """The kinds the cluster serves."""

    resources: list[APIResource]


# "continue" is a keyword: the keys every page shares need the functional form.
PageKeys = TypedDict(
    "PageKeys",
    {
        "cluster": str,
        "apiVersion": str,
        "kind": str,
        "namespace": str | None,
        "count": int,
        "continue": NotRequired[str],
        "next": NotRequired[str],
    },
)


class Page(PageKeys, Generic[T]):
    """One page of a list (what ``ToolBase._list`` builds); tools return a concrete page below."""

    items: list[T]


class ObjectPage(PageKeys):
    """One page of objects of any kind; ``continue`` (when present) gets the next page."""

    items: list[KubeObject]


class NamespaceLine(TypedDict):
    """A namespace: name, phase, labels."""

    name: str | None
    phase: str | None
    labels: dict[str, str]


class NamespacePage(PageKeys):
    """One page of namespaces; ``continue`` (when present) gets the next page."""

    items: list[NamespaceLine]


class EventLine(TypedDict):
    """An event, as ``kubectl get events`` shows it."""

    namespace: str | None
    type: str | None
    reason: str | None
    object: str
    message: str | None
    count: int | None
    last_seen: str | None


class EventPage(PageKeys):
    """One page of events; ``continue`` (when present) gets the next page."""

    items: list[EventLine]


class PodLine(TypedDict):
    """A pod, as ``kubectl get pods -o wide`` shows it (plus images and labels)."""

    name: str | None
    namespace: str | None
    phase: str | None
    ready: str
    restarts: int
    node: str | None
    ip: str | None
    images: list[str | None]
    labels: dict[str, str]
    created: str | None


class PodPage(PageKeys):
    """One page of pods; ``continue`` (when present) gets the next page."""

    items: list[PodLine]


class Described(TypedDict):
    """An object and the events that mention it (or why they could not be listed)."""

    object: KubeObject
    events: NotRequired[list[EventLine]]
    events_error: NotRequired[str]


class PodLog(TypedDict):
    """The newest lines of a pod's log; ``truncated`` when older lines were cut."""

    pod: str
    namespace: str
    container: str | None
    log: str
    truncated: bool


class ObjectRef(TypedDict):
    """Which object the API server answered about."""

    kind: NotRequired[str | None]
    name: str | None
    namespace: NotRequired[str]
    resourceVersion: NotRequired[str]


class Deleted(TypedDict):
    """The object deleted; ``status``: Success, Terminating (finalizers) or Deleted."""

    deleted: ObjectRef
    status: str


class Applied(TypedDict):
    """The objects applied, in order."""

    applied: list[ObjectRef]


class YAMLDeleteResult(TypedDict):
    """One object of the YAML: deleted, or why not."""

    kind: str
    name: str
    namespace: NotRequired[str]
    deleted: bool
    reason: NotRequired[str]


class YAMLDeleted(TypedDict):
    """Each object of the YAML, in the order deleted."""

    results: list[YAMLDeleteResult]


class Scaled(TypedDict):
    """A deployment's new replica count."""

    deployment: str
    namespace: str
    replicas: int


class Restarted(TypedDict):
    """A deployment rolled; ``restartedAt`` is the annotation that triggered it."""

    deployment: str
    namespace: str
    restartedAt: str | None


class NodeSchedule(TypedDict):
    """Whether a node is now unschedulable."""

    node: str
    unschedulable: bool


class FoundCluster(TypedDict):
    """An EKS cluster discovery found."""

    account: str
    region: str
    name: str
    status: str


class DiscoveryFailureInfo(TypedDict):
    """What failed for one (account, region), or one cluster in it."""

    account: str | None
    region: str
    cluster: str | None
    error: str


class Discovered(TypedDict):
    """What one discovery run registered, kept, unregistered, found, and where it failed."""

    registered: list[str]
    kept: list[str]
    unregistered: list[str]
    found: list[FoundCluster]
    failures: list[DiscoveryFailureInfo]
