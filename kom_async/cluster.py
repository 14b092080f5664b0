"""Old import path of ``Cluster``; it lives in ``kom_async.clusters`` (import it from ``kom_async``)."""

from kom_async.clusters import Cluster

__all__ = ["Cluster"]
