"""How much a cluster's API server may make this process hold: one frozen ``Limits`` per cluster.

A hostile (or broken) server can answer with an endless body, log, watch line or exec stream;
every read of what it sends stops at these sizes with a typed ``ResponseTooLarge`` that names
the limit and how to raise it. Trusted clusters (the operator's own) get ``TRUSTED_LIMITS``,
sized so that a real 10,000-pod list fits; untrusted ones (users' and agents' kubeconfigs)
get the tighter ``UNTRUSTED_LIMITS``. ``Clusters(limits=...)`` and ``register_*(limits=...)``
override them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kom_async.errors import InvalidArgument

KiB, MiB = 1024, 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Byte limits on what one cluster's API server sends (each a positive int).

    ``max_body``: a JSON answer (a get, a list page, a discovery document).
    ``max_error_quote``: how much of a refusal's message an error quotes, then ``…(N bytes more)``.
    ``max_log``: a pod log read with ``await pod.logs()`` (or scanned by ``LogStream.tail``).
    ``max_exec_output``: stdout plus stderr that ``exec()`` (and an unread ``exec_stream``) holds.
    ``max_watch_line``: one watch event (one line of the stream).
    """

    max_body: int = 512 * MiB
    max_error_quote: int = 4 * KiB
    max_log: int = 256 * MiB
    max_exec_output: int = 64 * MiB
    max_watch_line: int = 16 * MiB

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(
                    f"Limits({spec.name}=...) must be a positive number of bytes, not {value!r:.40}"
                )

    def replace(self, **changes: int) -> Limits:
        """A copy with some limits changed, e.g. ``UNTRUSTED_LIMITS.replace(max_body=64 * MiB)``."""
        return dataclasses.replace(self, **changes)


TRUSTED_LIMITS = Limits()
"""For the operator's own clusters: a 10,000-pod list (~100-300 MB of JSON) fits in ``max_body``."""

UNTRUSTED_LIMITS = Limits(
    max_body=32 * MiB, max_log=16 * MiB, max_exec_output=16 * MiB, max_watch_line=4 * MiB
)
"""For clusters registered from untrusted kubeconfigs (the MCP server's agents, a service's users)."""

ERROR_BODY_READ = 64 * KiB
"""How much of a non-2xx answer is read at all (enough for any real ``Status``); the rest is dropped."""


def limits_for(trusted: bool, chosen: Limits | None = None) -> Limits:
    """``chosen`` if given, else the default for a trusted or untrusted cluster."""
    if chosen is not None:
        if not isinstance(chosen, Limits):
            raise InvalidArgument(f"limits must be a kom_async.Limits, not {type(chosen).__name__}")
        return chosen
    return TRUSTED_LIMITS if trusted else UNTRUSTED_LIMITS
