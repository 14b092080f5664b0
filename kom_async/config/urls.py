"""API server URLs: read once, the way the transport will connect to them, and shown without
their credentials.

:func:`parse_server` is the one host parser: every host rule (metadata/link-local addresses,
allowlists, pinning, the DescribeCluster comparison) reads the host it returns, which is the host
aiohttp/yarl connect to (IDNA/Unicode normalised: fullwidth digits and dots name 127.0.0.1 too).
A kubeconfig's ``server`` is kept in that form (:func:`canonical_server`), and may carry
``user:password@``; every place that shows a server URL shows :func:`redact_url` of it instead.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

import yarl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DEFAULT_PORTS = {"https": 443, "http": 80}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

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


@dataclass(frozen=True)
class ServerURL:
    """An API server URL as the transport reads it.

    ``host`` is what aiohttp connects to (yarl's IDNA/Unicode-normalised ASCII host, lower case,
    no brackets); ``name`` is that host as the rules compare it (no trailing dot, no IPv6 zone);
    ``port`` is explicit or the scheme's default.
    """

    scheme: str
    host: str
    port: int
    explicit_port: bool
    path: str

    @property
    def name(self) -> str:
        return self.host.split("%", 1)[0].rstrip(".")

    @property
    def address(self) -> IPAddress | None:
        """The IP address the host names, in any spelling the C resolver accepts (``2852039166``,
        ``0xa9.0xfe.0xa9.0xfe``), unwrapped from IPv4-mapped and NAT64 (64:ff9b::/96) IPv6; None
        for a name."""
        host = self.name
        address: IPAddress
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if not host or host.strip("0123456789abcdefx.") or ".." in host:
                return None  # a name, not a number
            try:
                address = ipaddress.IPv4Address(socket.inet_aton(host))
            except OSError:
                return None
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                return address.ipv4_mapped
            if address in _NAT64:
                return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        return address

    @property
    def normalized(self) -> str:
        """``scheme://name:port/path``: two spellings of one API server give the same string."""
        name = f"[{self.name}]" if ":" in self.name else self.name
        return f"{self.scheme}://{name}:{self.port}{self.path.rstrip('/')}"

    @property
    def canonical(self) -> str:
        """The URL to keep and connect to: ``scheme://host[:port]/path``, host as connected."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.explicit_port else ""
        return f"{self.scheme}://{host}{port}{self.path.rstrip('/')}"


def parse_server(url: str) -> ServerURL:
    """``url`` read as the transport reads it (``ValueError`` when it cannot be)."""
    try:
        parsed = yarl.URL(url.strip())
        # the port as written (yarl before 1.18 reads ":0" as the scheme's default)
        host, port = parsed.raw_host, parsed.explicit_port
        if port is None:
            port = parsed.port
    except (ValueError, TypeError):  # UnicodeError (bad IDNA) is a ValueError
        raise ValueError(f"{redact_url(url)[:80]!r} is not a valid URL") from None
    scheme = parsed.scheme.lower()
    return ServerURL(
        scheme=scheme,
        host=(host or "").lower(),
        port=port if port is not None else _DEFAULT_PORTS.get(scheme, 0),
        explicit_port=parsed.explicit_port is not None,
        path=parsed.raw_path,
    )


def canonical_server(server: str) -> str:
    """``server`` (checked by :func:`server_url_problem`, no userinfo) in the form the transport
    connects to: the URL kept, so every later reader sees the host the rules saw."""
    return parse_server(server).canonical


def server_url_problem(server: str) -> str | None:
    """Why ``server`` cannot be an API server URL (``https://host[:port][/path]``), or None."""
    if len(server) > _MAX_URL:
        return f"it is longer than {_MAX_URL} characters"
    if not server.startswith(("https://", "http://")):
        return "it must be an http(s) URL, starting with https:// (or http://)"
    if any(ch.isspace() or not ch.isprintable() for ch in server):
        return "it contains spaces or control characters"
    try:
        url = parse_server(server)
    except ValueError:
        return "it is not a valid URL (check brackets around IPv6 addresses and the port)"
    if not url.name:
        return "it has no host name"
    if "?" in server or "#" in server:
        return "a server URL has no query (?) or fragment (#)"
    if not 0 < url.port < 65536:
        return f"port {url.port} is out of range 1-65535"
    if not _valid_host(url.host):
        return f"{url.host[:80]!r} is not a valid host name or IP address"
    return None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
