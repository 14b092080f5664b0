"""The one mapping from aiohttp's failures to kom-async errors, for requests and upgrades alike.

A TLS verification failure says which kubeconfig fields to check; a refused, reset or cut-short
connection is ``ClusterUnreachable`` naming the server (never its userinfo). Our own errors pass
through unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp

from kom_async.config.urls import redact_url
from kom_async.errors import ClusterUnreachable, KomError


@contextlib.contextmanager
def mapped_failures(who: str, host: str, *, timeouts: bool = False) -> Iterator[None]:
    """Raise aiohttp's failures inside the block as ``ClusterUnreachable`` for ``who`` (e.g.
    "cluster 'prod'") at ``host``; ``timeouts`` maps a ``TimeoutError`` too (a handshake)."""
    try:
        yield
    except KomError:
        raise
    except aiohttp.ClientConnectorCertificateError as exc:
        raise ClusterUnreachable(
            f"TLS verification of the API server of {who} failed ({exc.certificate_error}); check "
            "the kubeconfig's certificate-authority-data and tls-server-name"
        ) from None
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        if not timeouts and not isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            raise  # a caller's own timeout of a request stays a TimeoutError
        raise ClusterUnreachable(
            f"cannot reach the API server of {who} at {redact_url(host)}: {type(exc).__name__}: "
            f"{redact_url(str(exc))}"
        ) from exc
