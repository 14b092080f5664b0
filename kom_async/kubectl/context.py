"""What a query needs from its cluster: the REST helper, cached discovery and the API client.

``Query`` depends on this small object rather than on ``Kubectl``, so the facade sits above
the query and nothing in the fluent API imports upwards.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kom_async.errors import QueryError
from kom_async.kubectl.discovery import Discovery
from kom_async.kubectl.models import is_model_class, to_model
from kom_async.transport.rest import RestClient


class QueryContext:
    """One cluster's request plumbing, shared by its ``Kubectl`` and every query built from it."""

    __slots__ = ("api_client", "cluster_id", "discovery", "rest")

    def __init__(
        self, api_client: Any, *, cluster_id: str, discovery_ttl: float, request_timeout: float | None
    ) -> None:
        self.api_client = api_client
        self.cluster_id = cluster_id
        self.rest = RestClient(api_client, timeout=request_timeout)
        self.discovery = Discovery(self.rest, ttl=discovery_ttl)

    def to_model(self, data: Any, model: type[Any] | None) -> Any:
        """``data`` as an instance of ``model`` (None: the plain dict)."""
        if model is None or not isinstance(data, dict):
            return data
        return to_model(data, model)

    def to_plain(self, obj: Any) -> Any:
        """A private, JSON-ready copy of a dict, list or generated model instance."""
        if isinstance(obj, Mapping):
            return copy.deepcopy(dict(obj))
        if isinstance(obj, list):
            return copy.deepcopy(obj)
        if is_model_class(type(obj)):
            return self.api_client.sanitize_for_serialization(obj)
        raise QueryError(f"expected a dict or a kubernetes_asyncio model, got {type(obj).__name__}")
