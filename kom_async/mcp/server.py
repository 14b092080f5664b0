"""``kom-async mcp``: serve the cluster registry as MCP tools over stdio or streamable HTTP.

Clusters can be preloaded from local kubeconfigs (trusted: the operator chose them) and
registered at run time through tools (untrusted: ``TrustPolicy.untrusted`` with the
``--kubeconfig-dir`` directories and ``--allow-server`` servers, plus the exec allowlist;
``--pin-servers`` limits every server of those kubeconfigs to that list or confirmed EKS).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kom_async.clusters import Clusters
from kom_async.config.policy import DEFAULT_ALLOWED_COMMANDS, ExecPolicy, TrustPolicy
from kom_async.errors import KomError
from kom_async.mcp.defaults import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CLUSTERS,
    DEFAULT_MAX_REQUEST_BODY,
    FD_RESERVE,
    default_max_connections,
    open_file_limit,
)

if TYPE_CHECKING:  # the mcp extra loads after parsing: `kom-async mcp --help` needs only the core
    from mcp.server import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    from kom_async.mcp.fleet import DiscoverySettings
    from kom_async.mcp.toolbase import ToolSettings

log = logging.getLogger("kom_async.mcp")

AUTH_KEY_ENV = "KOM_ASYNC_MCP_AUTH_KEY"
"""Environment variable holding the HTTP bearer key (preferred over --auth-key: not in ps)."""

DEFAULT_KUBECONFIG_DIR = "~/.kube"
"""Where tool-supplied kubeconfig paths may point when no --kubeconfig-dir is given."""

UNPINNED_NOTE = (
    "--allow-server only lists where this host's own credentials (exec plugins, token files) may "
    "go; tool-supplied kubeconfigs that carry their own credentials may still name any https "
    "server. Add --pin-servers to hold every server to the list (or to a DescribeCluster-confirmed "
    "EKS endpoint)"
)
"""Printed when --allow-server is given without --pin-servers: the list is not a server pin."""

"""Largest HTTP request body (bytes) before the answer is 413 (--max-request-body)."""

_KUBECONFIG_SUFFIXES = {"", ".yaml", ".yml", ".conf", ".kubeconfig", ".config"}

_INSTRUCTIONS = (
    "Kubernetes across many clusters, AWS EKS included. Start with list_k8s_clusters; register "
    "more with register_eks_cluster (a kubeconfig: content or path), register_eks_cluster_by_name "
    "(cluster_name + region) or register_k8s_cluster, under ids of your own: the clusters the operator "
    "set up cannot be replaced or unregistered by tools. "
    "Every tool takes 'cluster' (optional when only one is registered). List tools return one page "
    "of at most 100 objects and a 'continue' value for the next page."
)


EXAMPLES = f"""examples:
  # stdio (what an MCP client launches), the clusters of ~/.kube/clusters preloaded
  kom-async mcp --kubeconfig-dir ~/.kube/clusters

  # streamable HTTP on loopback, read-only, agents may not register clusters
  kom-async mcp --transport http --port 8000 --read-only --read-only-registry

  # HTTP on every interface: a bearer key is required ({AUTH_KEY_ENV} keeps it out of ps)
  {AUTH_KEY_ENV}=$(openssl rand -hex 32) kom-async mcp --transport http --host 0.0.0.0
"""


# long: one declaration per flag, read as the command's reference
def build_parser() -> argparse.ArgumentParser:
    """The ``kom-async mcp`` command line."""
    parser = argparse.ArgumentParser(
        prog="kom-async mcp",
        description="Serve Kubernetes clusters (AWS EKS included) as MCP tools for AI agents.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_http_flags(parser.add_argument_group("HTTP transport"))
    parser.add_argument(
        "--kubeconfig",
        action="append",
        default=[],
        metavar="PATH",
        help="preload a kubeconfig (repeatable; id = its current context)",
    )
    _add_untrusted_flags(parser.add_argument_group("tool-supplied kubeconfigs (untrusted)"))
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="refuse tools that change clusters (delete, apply, patch, scale, restart, cordon, uncordon)",
    )
    parser.add_argument(
        "--read-only-registry",
        action="store_true",
        help="also refuse register/unregister tools: agents use the preloaded clusters only",
    )
    parser.add_argument(
        "--max-clusters",
        type=int,
        default=DEFAULT_MAX_CLUSTERS,
        metavar="N",
        help=f"most clusters agents may have registered at once (default {DEFAULT_MAX_CLUSTERS}); the "
        "operator's clusters (--kubeconfig, --kubeconfig-dir) do not count, and tool calls can never "
        "replace or unregister them",
    )
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="show Secret values in tool results (default: each value of data/stringData shows as its size)",
    )
    parser.add_argument(
        "--request-timeout", type=float, default=60.0, help="seconds one tool call may take (default 60)"
    )
    parser.add_argument(
        "--discover-region",
        action="append",
        default=[],
        metavar="REGION",
        help="turn on the discover_eks_clusters tool for this region (repeatable; off without it)",
    )
    parser.add_argument(
        "--discover-role-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="a role discover_eks_clusters assumes, one per account (repeatable; without it the "
        "server's own AWS identity); agents cannot name others",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="kom-async log level on stderr (default INFO)",
    )
    return parser


def _add_http_flags(group: argparse._ArgumentGroup) -> None:
    """Where and how the server listens, and its limits against hostile HTTP clients."""
    group.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    group.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000; 0 picks a free one)")
    group.add_argument("--path", default="/mcp", help="HTTP endpoint path (default /mcp)")
    group.add_argument(
        "--auth-key",
        help=f"bearer key every HTTP request must carry (or set {AUTH_KEY_ENV}, which ps cannot show)",
    )
    group.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection that takes longer to send a request's headers "
        f"(default {DEFAULT_HEADER_TIMEOUT:g})",
    )
    group.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="most open connections; past it, the one that has waited longest for its headers is "
        f"closed (default 512, or fewer to fit ulimit -n: {default_max_connections()} here)",
    )
    group.add_argument(
        "--max-request-body",
        type=int,
        default=DEFAULT_MAX_REQUEST_BODY,
        metavar="BYTES",
        help=f"larger request bodies are answered 413 (default {DEFAULT_MAX_REQUEST_BODY})",
    )


def _add_untrusted_flags(group: argparse._ArgumentGroup) -> None:
    """What tool-supplied kubeconfigs may do: files, servers, exec plugins."""
    group.add_argument(
        "--kubeconfig-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="preload every kubeconfig in DIR (id = file name without extension); these directories are "
        "also the only places tool-supplied kubeconfig paths and kubeconfig file references may "
        "point to (repeatable; default for that: ~/.kube, nothing preloaded)",
    )
    group.add_argument(
        "--allow-server",
        action="append",
        default=[],
        metavar="URL[=CAFILE]",
        help="an https API server that tool-supplied kubeconfigs may send this host's credentials to "
        "without further proof (repeatable; EKS servers are otherwise confirmed with DescribeCluster); "
        "=CAFILE: the PEM CA its certificate must chain to (default: the system's trust store; a CA "
        "in the kubeconfig is never used for this host's credentials)",
    )
    group.add_argument(
        "--pin-servers",
        action="store_true",
        help="tool-supplied kubeconfigs may only name an --allow-server server or an EKS endpoint "
        "DescribeCluster confirms, whatever their credentials (token, client certificate, basic auth, "
        "none): an agent cannot make this host reach other https services. Without it such "
        "kubeconfigs may name any https server except link-local/metadata addresses; --allow-server "
        "without --pin-servers prints a note saying so",
    )
    group.add_argument(
        "--allow-exec",
        action="append",
        default=[],
        metavar="CMD",
        help="also allow this exec credential plugin in tool-supplied kubeconfigs (repeatable; default "
        f"allowlist: {', '.join(sorted(DEFAULT_ALLOWED_COMMANDS))})",
    )
    group.add_argument(
        "--deny-all-exec",
        action="store_true",
        help="refuse every exec credential plugin in tool-supplied kubeconfigs",
    )


def build_server(
    clusters: Clusters, settings: ToolSettings, discovery: DiscoverySettings | None = None
) -> MCPServer[Any]:
    """An MCP server whose tools act on ``clusters`` (``discover_eks_clusters`` only with
    ``discovery``)."""
    from kom_async import __version__
    from kom_async.mcp.app import KomMCPServer
    from kom_async.mcp.fleet import FleetTools
    from kom_async.mcp.tools import KomTools

    instructions = _INSTRUCTIONS + ("" if settings.show_secrets else " Secret values show as their size.")
    server = KomMCPServer("kom-async", instructions=instructions, version=__version__, log_level="WARNING")
    KomTools(clusters, settings).install(server)
    if discovery is not None:
        FleetTools(clusters, settings, discovery).install(server)
    return server


def _kubeconfig_files(directory: Path) -> list[Path]:
    """Kubeconfig-looking files in ``directory``, sorted (hidden files skipped)."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _KUBECONFIG_SUFFIXES
    )


def _preload_jobs(
    kubeconfigs: Sequence[str], directories: Sequence[str], errors: list[str]
) -> list[tuple[Path, str | None]]:
    """(path, id) pairs to register: ids of files from directories are their stems."""
    jobs: list[tuple[Path, str | None]] = [(Path(p).expanduser(), None) for p in kubeconfigs]
    for directory in directories:
        path = Path(directory).expanduser()
        if not path.is_dir():
            errors.append(f"--kubeconfig-dir {directory}: not a directory")
            continue
        jobs += [(f, f.stem) for f in _kubeconfig_files(path)]
    return jobs


async def preload(clusters: Clusters, kubeconfigs: Sequence[str], directories: Sequence[str]) -> list[str]:
    """Register local kubeconfigs (trusted: no exec policy); return errors, one line each."""
    errors: list[str] = []
    for path, cluster_id in _preload_jobs(kubeconfigs, directories, errors):
        try:
            kubectl = await clusters.register_by_path(path, cluster_id)
        except (KomError, OSError) as exc:
            errors.append(f"{path}: {exc}")
            continue
        log.info("preloaded %s as cluster %s", path, kubectl.cluster_id)
    return errors


def rebinding_protection(host: str) -> TransportSecuritySettings | None:
    """DNS-rebinding protection for a loopback bind address: only Host (and Origin) headers that
    name a loopback address are served, so a web page whose name resolves to 127.0.0.x cannot
    drive the server from a browser. None (no Host check) for other addresses, which need a key."""
    from mcp.server.transport_security import TransportSecuritySettings

    if not _is_loopback(host):
        return None
    names = {"127.0.0.1", "localhost", "[::1]"}
    try:
        address = ipaddress.ip_address(host)
        names.add(f"[{address.compressed}]" if address.version == 6 else address.compressed)
    except ValueError:
        pass
    if ":" not in host:
        names.add(host.lower())
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(f"{n}:*" for n in names) + sorted(names),
        allowed_origins=sorted(f"http://{n}:*" for n in names),
    )


def _is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve_http(server: MCPServer[Any], options: argparse.Namespace, auth_key: str | None) -> None:
    """Serve streamable HTTP with uvicorn on a socket bound here (so port 0 can be reported)."""
    import uvicorn

    from kom_async.mcp.httpauth import BearerKeyMiddleware
    from kom_async.mcp.httpguard import HttpLimits, guarded_protocol

    app: Any = server.streamable_http_app(
        streamable_http_path=options.path,
        host=options.host,
        transport_security=rebinding_protection(options.host),
        max_request_body_size=options.max_request_body,
    )
    if auth_key:
        app = BearerKeyMiddleware(app, auth_key)
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((options.host, options.port))
        sock.listen(128)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        host = f"[{options.host}]" if family == socket.AF_INET6 else options.host
        limits = HttpLimits(options.header_timeout, options.max_connections or default_max_connections())
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", access_log=False, http=guarded_protocol(limits)
        )
        print(
            f"kom-async mcp: streamable HTTP on http://{host}:{port}{options.path}"
            + (" (bearer key required)" if auth_key else ""),
            file=sys.stderr,
            flush=True,
        )
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        sock.close()


async def serve(options: argparse.Namespace) -> int:
    """Preload clusters, then serve until the client goes away (stdio) or a signal (HTTP)."""
    from kom_async.mcp.fleet import DiscoverySettings
    from kom_async.mcp.toolbase import ToolSettings

    auth_key = _auth_key(options)
    policy = ExecPolicy(DEFAULT_ALLOWED_COMMANDS | set(options.allow_exec), deny_all=options.deny_all_exec)
    try:
        trust = TrustPolicy.untrusted(
            allowed_dirs=options.kubeconfig_dir or [DEFAULT_KUBECONFIG_DIR],
            allowed_servers=_allowed_servers(options.allow_server),
            pin_servers=options.pin_servers,
        )
    except KomError as exc:
        print(f"kom-async mcp: {exc}", file=sys.stderr, flush=True)
        return 2
    settings = ToolSettings(
        exec_policy=policy,
        read_only=options.read_only,
        request_timeout=options.request_timeout,
        trust=trust,
        read_only_registry=options.read_only_registry,
        max_clusters=options.max_clusters,
        show_secrets=options.show_secrets,
    )
    async with Clusters() as clusters:
        for error in await preload(clusters, options.kubeconfig, options.kubeconfig_dir):
            print(f"kom-async mcp: not loaded: {error}", file=sys.stderr, flush=True)
        discovery = (
            DiscoverySettings(tuple(options.discover_region), tuple(options.discover_role_arn))
            if options.discover_region
            else None
        )
        server = build_server(clusters, settings, discovery)
        if options.transport == "http":
            await _serve_http(server, options, auth_key)
        else:
            await server.run_stdio_async()
    return 0


def _allowed_servers(values: list[str]) -> dict[str, str | None]:
    """``--allow-server URL[=CAFILE]`` values as ``{URL: CA file or None}`` (a server URL has
    no ``=``: it has no query)."""
    servers: dict[str, str | None] = {}
    for value in values:
        url, sep, ca_file = value.partition("=")
        servers[url] = ca_file if sep else None
    return servers


def _auth_key(options: argparse.Namespace) -> str | None:
    """The HTTP bearer key: --auth-key, else the environment, else none."""
    return options.auth_key or os.environ.get(AUTH_KEY_ENV) or None


def _usage_error(options: argparse.Namespace) -> str | None:
    """Why these options cannot run, or None."""
    if options.request_timeout <= 0 or options.header_timeout <= 0:
        return "--request-timeout and --header-timeout must be positive"
    if options.max_clusters < 0 or options.max_request_body < 1:
        return "--max-clusters must be 0 or more, and --max-request-body 1 or more"
    room = open_file_limit() - FD_RESERVE
    if options.max_connections is not None and not 1 <= options.max_connections <= room:
        return (
            f"--max-connections must be between 1 and {room} (the open-file limit, ulimit -n, "
            f"less {FD_RESERVE} kept for clusters and files)"
        )
    if options.transport == "http" and not _auth_key(options) and not _is_loopback(options.host):
        return (
            f"refusing to serve on {options.host} without a key: pass --auth-key or set {AUTH_KEY_ENV} "
            "(without a key only loopback addresses are allowed)"
        )
    bad = [u for u in options.allow_server if not u.lower().startswith("https://")]
    if bad:
        return f"--allow-server {bad[0]}: only https:// servers can be allowed"
    if options.transport == "http" and not options.path.startswith("/"):
        return "--path must start with '/'"
    if options.discover_role_arn and not options.discover_region:
        return "--discover-role-arn needs --discover-region: name the regions discovery may look in"
    return None


def _configure_logging(level: str) -> None:
    """Log to stderr (stdout carries the stdio protocol); only kom-async at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("kom_async").setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kom-async mcp``."""
    options = build_parser().parse_args(argv)
    problem = _usage_error(options)
    if problem:
        print(f"kom-async mcp: {problem}", file=sys.stderr)
        return 2
    if options.allow_server and not options.pin_servers:
        print(f"kom-async mcp: note: {UNPINNED_NOTE}", file=sys.stderr, flush=True)
    _configure_logging(options.log_level)
    return asyncio.run(serve(options))


if __name__ == "__main__":
    sys.exit(main())
