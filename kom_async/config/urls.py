"""API server URLs: checked once when a kubeconfig is read, and shown without their credentials.

A kubeconfig's ``server`` may carry ``user:password@``; every place that shows a server URL
(logs, reprs, errors, CLI and MCP output) shows :func:`redact_url` of it instead.
"""

from __future__ import annotations

import ipaddress
import re

import yarl

_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_MAX_URL = 2048


def redact_url(url: str) -> str:
    """``url`` without anything between ``scheme://`` and the last ``@`` (``user:password@``).

    Works on malformed URLs too (``https://u:p/x@h`` hides ``u:p/x``): it never parses.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://{rest.rpartition('@')[2]}"


def split_userinfo(server: str) -> tuple[str, str | None, str | None]:
    """``(url without user:password@, user, password)`` of a URL that passed the check below.

    The credentials are taken out so that no URL kept or shown anywhere carries them; they are
    used as basic auth when the kubeconfig's user has no credentials of its own (as kubectl does).
    """
    scheme, sep, rest = server.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return server, None, None
    url = yarl.URL(server)
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}", url.user, url.password


def server_url_problem(server: str) -> str | None:
    """Why ``server`` cannot be an API server URL (``https://host[:port][/path]``), or None."""
    if len(server) > _MAX_URL:
        return f"it is longer than {_MAX_URL} characters"
    if not server.startswith(("https://", "http://")):
        return "it must be an http(s) URL, starting with https:// (or http://)"
    if any(ch.isspace() or not ch.isprintable() for ch in server):
        return "it contains spaces or control characters"
    try:
        url = yarl.URL(server)
        host, port = url.raw_host, url.port
    except (ValueError, TypeError):  # UnicodeError (bad IDNA) is a ValueError
        return "it is not a valid URL (check brackets around IPv6 addresses and the port)"
    if not host:
        return "it has no host name"
    if url.raw_query_string or url.raw_fragment or "?" in server or "#" in server:
        return "a server URL has no query (?) or fragment (#)"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range 1-65535"
    if not _valid_host(host):
        return f"{host[:80]!r} is not a valid host name or IP address"
    return None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
