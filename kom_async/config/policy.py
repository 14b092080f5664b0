"""What a kubeconfig may make this process do. ``ExecPolicy``: which exec plugins run.
``TrustPolicy``: whether the kubeconfig is the operator's own (trusted, kubectl behaviour) or
someone else's (untrusted: allowlisted exec env, files only under allowed directories, https
with verification, no link-local/metadata server, credentials of this host only to servers
proven to be the right ones; with ``pin_servers``, every server proven or listed)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kom_async.config.files import allowed_file
from kom_async.config.kubeconfig import ExecConfig, KubeconfigSelection, UserAuth, looks_like_eks
from kom_async.config.readfile import PEM_MAX, read_file
from kom_async.config.urls import ServerURL, parse_server, redact_url
from kom_async.errors import ExecNotAllowed, InvalidArgument, KubeconfigRefused

DEFAULT_ALLOWED_COMMANDS = frozenset({"aws", "aws-iam-authenticator", "kom-async"})

# env a plugin may not set: each one can make an allowed command run other code
_LOADER_ENV = frozenset({"PATH", "BASH_ENV", "ENV", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT"})
_LOADER_ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON")


class ExecPolicy:
    """Allow exec plugins whose command (a bare name on PATH) is on a list.

    The default commands may only mint a token (``aws eks get-token``, not ``aws s3 cp``),
    and no plugin may set loader variables (PATH, LD_*, PYTHON*...) in its env.
    """

    def __init__(self, allowed: Iterable[str] = DEFAULT_ALLOWED_COMMANDS, *, deny_all: bool = False) -> None:
        self.allowed = frozenset(allowed)
        self.deny_all = deny_all

    def __repr__(self) -> str:
        return f"ExecPolicy(allowed={sorted(self.allowed)!r}, deny_all={self.deny_all})"

    def check_kubeconfig(self, selection: KubeconfigSelection) -> None:
        """Raise ``ExecNotAllowed`` when the selected user would run a plugin it may not.

        (Which files a kubeconfig may read is the ``TrustPolicy``'s business.)
        """
        if selection.auth.exec is not None:
            self.check(selection.auth.exec)

    def check(self, config: ExecConfig) -> None:
        """Raise ``ExecNotAllowed`` unless the exec plugin ``config`` may run."""
        name = os.path.basename(config.command)
        if self.deny_all:
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: exec credential plugins are disabled (deny-all exec policy)"
            )
        # a bare name found on PATH, or the absolute path PATH would give for that name
        on_path = os.sep not in config.command or (
            os.path.isabs(config.command) and shutil.which(name) == config.command
        )
        if name not in self.allowed or not on_path:
            allowed = ", ".join(sorted(self.allowed)) or "none"
            raise ExecNotAllowed(
                f"exec plugin {config.command!r} refused: only these commands may run as "
                f"credential plugins: {allowed} (add it to the allowlist to permit it)"
            )
        loader = sorted(
            n for n in config.env if n.upper() in _LOADER_ENV or n.upper().startswith(_LOADER_ENV_PREFIXES)
        )
        if loader:
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: its env may not set {', '.join(loader)} "
                "(that changes what actually runs)"
            )
        if name in DEFAULT_ALLOWED_COMMANDS and not _mints_token(config):
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: it may only mint a token ('aws eks get-token ...', "
                "'aws-iam-authenticator token ...', 'kom-async eks get-token ...'), "
                "not run other subcommands"
            )


def _mints_token(config: ExecConfig) -> bool:
    """True when a default-allowed command only mints a token."""
    if os.path.basename(config.command) == "kom-async":
        return list(config.args[:2]) == ["eks", "get-token"]
    return looks_like_eks(config)


# Exec env an untrusted kubeconfig may set: which profile and region, its own static keys (they
# only ever act as the kubeconfig's own identity), and switches that change no endpoint. Never
# endpoints (AWS_ENDPOINT_URL*), credential or config files (AWS_SHARED_CREDENTIALS_FILE,
# AWS_CONFIG_FILE, AWS_WEB_IDENTITY_TOKEN_FILE), container/web-identity credentials
# (AWS_CONTAINER_CREDENTIALS_*, AWS_ROLE_ARN), CA bundles, proxies, KUBECONFIG...
SAFE_EXEC_ENV = frozenset(
    {
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_DEFAULT_OUTPUT",
        "AWS_PAGER",
    }
)
# never a Kubernetes API server: link-local addresses (cloud instance metadata at 169.254.169.254,
# the ECS credential endpoint 169.254.170.2, the EKS Pod Identity agent 169.254.170.23, link-local
# IPv6) and the IPv6 addresses of EC2's metadata service, the EKS Pod Identity agent and GCP's
# metadata server. IPv4-mapped and NAT64 spellings are unwrapped by the host parser first.
_NEVER_SERVERS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",  # EC2 instance metadata (IMDS)
        "fd00:ec2::23/128",  # EKS Pod Identity agent
        "fd20:ce::254/128",  # GCP metadata server
    )
)
# values the AWS CLI replaces by a file's or a URL's content (``--cluster-name file:///etc/x``)
_PARAM_FILE_PREFIXES = ("file://", "fileb://", "http://", "https://")


def normalize_server(url: str) -> str:
    """``scheme://host:port/path`` with the host read as the transport connects to it (IDNA and
    Unicode normalised, lower case, no trailing dot), the default port spelled out and no
    userinfo or trailing slash: two spellings of one API server compare equal."""
    return _server(url).normalized


def _server(url: str) -> ServerURL:
    """``url`` through the one host parser; ``KubeconfigRefused`` when it cannot be read."""
    try:
        return parse_server(url)
    except ValueError:
        raise KubeconfigRefused(f"server URL {redact_url(url)[:80]!r} is malformed") from None


@dataclass(frozen=True)
class TrustPolicy:
    """How far a registration trusts a kubeconfig.

    ``TRUSTED`` (the SDK's default: the operator's own files) behaves like kubectl.
    ``TrustPolicy.untrusted(...)`` (the MCP server's default, and the choice for services that
    register their users' kubeconfigs) refuses, before anything is read, run or sent:
    exec ``env`` outside ``allowed_env``; files outside ``allowed_dirs``; plain http, skipped
    TLS verification and proxies; and credentials of this host (an exec plugin's token, a
    tokenFile) for a server that is neither in ``allowed_servers`` nor, for EKS, the endpoint
    DescribeCluster reports for the cluster name (checked by the registry before the first
    token is minted). A server whose host is a link-local / cloud-metadata address is refused.

    ``pin_servers=True`` (strict; ``kom-async mcp --pin-servers``) extends the server rule to
    kubeconfigs that bring their own credentials (token, client certificate, basic auth, none):
    every server must be in ``allowed_servers`` or a DescribeCluster-confirmed EKS endpoint, so
    a kubeconfig cannot make this host reach an internal https service.
    """

    trusted: bool = False
    allowed_dirs: tuple[str, ...] = ()
    allowed_servers: frozenset[str] = frozenset()
    allowed_env: frozenset[str] = field(default=SAFE_EXEC_ENV)
    pin_servers: bool = False
    #: ``(normalized allowed server, PEM CA)``: the CA the operator gave for that server
    server_cas: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.trusted and self.pin_servers:
            raise InvalidArgument(
                "pin_servers applies to untrusted kubeconfigs; a trusted policy goes anywhere"
            )
        for server in self.allowed_servers:
            if normalize_server(server) != server:
                raise InvalidArgument(
                    f"allowed server {server!r} is not normalized; build the policy with "
                    "TrustPolicy.untrusted(allowed_servers=...)"
                )
        for server, _ in self.server_cas:
            if server not in self.allowed_servers:
                raise InvalidArgument(f"server_cas names {server!r}, which is not an allowed server")

    @classmethod
    def untrusted(
        cls,
        *,
        allowed_dirs: Iterable[str | os.PathLike[str]] = (),
        allowed_servers: Iterable[str] | Mapping[str, str | os.PathLike[str] | None] = (),
        allowed_env: Iterable[str] = SAFE_EXEC_ENV,
        pin_servers: bool = False,
    ) -> TrustPolicy:
        """An untrusted policy: files only under ``allowed_dirs``, credentials of this host only
        to ``allowed_servers`` (or the DescribeCluster endpoint), exec env only ``allowed_env``;
        ``pin_servers``: every server, whoever's credentials, only those.

        ``allowed_servers`` may map each URL to a PEM CA file (read now): the CA this host's
        credentials trust for that server; without one, the system's trust store."""
        servers = set()
        cas: dict[str, bytes] = {}
        ca_files = allowed_servers if isinstance(allowed_servers, Mapping) else {}
        for server in allowed_servers:
            if not server.lower().startswith("https://"):
                raise InvalidArgument(f"allowed server {server!r} must be an https:// URL")
            servers.add(normalize_server(server))
            ca_file = ca_files.get(server)
            if ca_file is not None:
                cas[normalize_server(server)] = _operator_ca(ca_file, server)
        return cls(
            trusted=False,
            allowed_dirs=tuple(os.fspath(Path(d).expanduser()) for d in allowed_dirs),
            allowed_servers=frozenset(servers),
            allowed_env=frozenset(allowed_env),
            pin_servers=pin_servers,
            server_cas=tuple(sorted(cas.items())),
        )

    @property
    def file_dirs(self) -> tuple[str, ...] | None:
        """Where file references may point: ``None`` (anywhere) when trusted."""
        return None if self.trusted else self.allowed_dirs

    def check_path(self, path: str | os.PathLike[str], *, what: str = "kubeconfig") -> Path:
        """The path to read for ``path``: anywhere when trusted, else only under ``allowed_dirs``
        (``~``, ``..`` and symlinks resolved first; ``KubeconfigRefused`` otherwise)."""
        if self.trusted:
            return Path(path).expanduser()
        return allowed_file(path, self.allowed_dirs, what=what)

    def server_allowed(self, server: str) -> bool:
        """True when the operator listed ``server`` as one credentials of this host may go to."""
        return normalize_server(server) in self.allowed_servers

    def check_env(self, env: Mapping[str, str], *, what: str = "exec env") -> None:
        """Refuse env names outside ``allowed_env`` (untrusted only)."""
        refused = sorted(n for n in env if n not in self.allowed_env)
        if refused and not self.trusted:
            raise KubeconfigRefused(
                f"{what} sets {', '.join(refused)}, which an untrusted kubeconfig may not set "
                f"(allowed: {', '.join(sorted(self.allowed_env))}); endpoints, credential and "
                "config files, container/web-identity credentials, CA bundles and proxies come "
                "only from this host's own configuration"
            )

    def check_selection(
        self, selection: KubeconfigSelection, *, eks: bool, eks_unsupported: Sequence[str] = ()
    ) -> KubeconfigSelection:
        """Refuse what an untrusted kubeconfig may not do; the selection to connect with (TLS
        from the operator's trust when host credentials go out, see ``vouch``). No-op when trusted.

        The EKS endpoint check needs AWS and is the registry's (see ``needs_eks_check``).
        """
        if self.trusted:
            return selection
        where = f"context {selection.context_name!r}"
        server = selection.server
        if _server(server).scheme != "https":
            raise KubeconfigRefused(
                f"{where}: server {_no_userinfo(server)!r} is not https; an untrusted kubeconfig "
                "must use https with certificate verification"
            )
        if selection.insecure_skip_tls_verify:
            raise KubeconfigRefused(
                f"{where}: insecure-skip-tls-verify is set; an untrusted kubeconfig must verify "
                "the server's certificate"
            )
        if selection.proxy_url:
            raise KubeconfigRefused(f"{where}: proxy-url is set; an untrusted kubeconfig may not use a proxy")
        if _metadata_address(server):
            raise KubeconfigRefused(
                f"{where}: server {_no_userinfo(server)!r} is a link-local / cloud metadata address, "
                "never a Kubernetes API server; an untrusted kubeconfig may not name it"
            )
        auth = selection.auth
        if auth.exec is not None:
            self.check_env(auth.exec.env, what=f"{where}: the exec plugin's env")
            files = [a for a in auth.exec.args if a.lower().startswith(_PARAM_FILE_PREFIXES)]
            if files:
                raise KubeconfigRefused(
                    f"{where}: exec argument {files[0][:60]!r} would make the plugin read a file or "
                    "URL; an untrusted kubeconfig may not"
                )
        if eks and eks_unsupported:
            raise KubeconfigRefused(
                f"{where}: the EKS exec plugin uses {', '.join(eks_unsupported)}; an untrusted "
                "kubeconfig may only use --region, --cluster-name/--cluster-id, --role-arn, --profile"
            )
        selection = self.vouch(selection, eks=eks)
        if self.pin_servers and not eks and not self.server_allowed(server):
            raise KubeconfigRefused(
                f"{where}: server {_no_userinfo(server)!r} is not one of the API servers the operator "
                "allowed, and this host pins servers (pin_servers): an untrusted kubeconfig may only "
                "name an allowed server or an EKS endpoint that eks:DescribeCluster confirms; the "
                "operator can allow it (TrustPolicy.untrusted(allowed_servers=[...]), "
                "kom-async mcp --allow-server URL)"
            )
        return selection

    def vouch(self, selection: KubeconfigSelection, *, eks: bool) -> KubeconfigSelection:
        """Host credentials only where the operator vouches: the selection to connect with.

        A credential taken from this host (an exec plugin, the host's AWS identity for EKS, a
        tokenFile, a client certificate or key file) goes only to a server in
        ``allowed_servers`` or, for EKS, one DescribeCluster confirms (the registry checks that,
        with EKS's CA); and to an allowed server only over TLS anchored in the operator's trust:
        the CA given for it in ``allowed_servers``, else the system's store, never a CA or
        tls-server-name the kubeconfig carries. No-op when trusted or the credentials are the
        kubeconfig's own.
        """
        source = _host_credential(selection.auth, eks)
        if self.trusted or source is None:
            return selection
        where, server = f"context {selection.context_name!r}", selection.server
        if not self.server_allowed(server):
            if eks:
                return selection  # confirmed by DescribeCluster before a token is minted
            raise KubeconfigRefused(
                f"{where}: its credentials come from {source} on this host, and server "
                f"{_no_userinfo(server)!r} is not one this host's credentials may go to; the "
                "operator can list it (TrustPolicy.untrusted(allowed_servers=...), kom-async mcp "
                "--allow-server URL)"
            )
        ca = dict(self.server_cas).get(normalize_server(server))
        if selection.tls_server_name is not None or (selection.ca_data is not None and ca is None):
            what = (
                "tls-server-name"
                if selection.tls_server_name is not None
                else "its own certificate-authority"
            )
            raise KubeconfigRefused(
                f"{where}: its credentials come from {source} on this host, so server "
                f"{_no_userinfo(server)!r} must prove itself with a CA the operator gave, but the "
                f"kubeconfig sets {what}. The operator gives the CA with the allowed server "
                "(TrustPolicy.untrusted(allowed_servers={URL: CA_FILE}), kom-async mcp "
                "--allow-server URL=CA_FILE); without one the system's trust store is used, so "
                "leave certificate-authority and tls-server-name out of the kubeconfig"
            )
        return dataclasses.replace(selection, ca_data=ca)

    def needs_eks_check(self, server: str) -> bool:
        """True when an EKS server must be confirmed by DescribeCluster before a token goes out."""
        return not self.trusted and not self.server_allowed(server)


def _host_credential(auth: UserAuth, eks: bool) -> str | None:
    """What this host lends the selected user, or None when its credentials are its own."""
    if eks:
        return "this host's AWS identity (an EKS token)"
    if auth.exec is not None:
        return "an exec plugin"
    if auth.kind == "token-file":
        return "a tokenFile"
    if auth.kind == "client-cert" and auth.cert_from_file:
        return "a client certificate or key file"
    return None


def _operator_ca(path: str | os.PathLike[str], server: str) -> bytes:
    """The PEM CA file the operator gave for ``server`` (through the bounded reader)."""
    full = Path(path).expanduser()
    try:
        data = read_file(full, limit=PEM_MAX, what="CA file")
    except OSError as exc:
        raise InvalidArgument(f"the CA file for {server!r} cannot be read: {full}: {exc.strerror}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise InvalidArgument(f"the CA file for {server!r} ({full}) holds no PEM certificate")
    return data


def _metadata_address(server: str) -> bool:
    """True when ``server``'s host is a literal link-local / metadata address, in any spelling the
    transport would connect to (``169.254.169.254``, ``2852039166``, ``0xa9.0xfe.0xa9.0xfe``,
    ``①⑥⑨.②⑤④.①⑥⑨.②⑤④``, ``[::ffff:169.254.169.254]``, ``[64:ff9b::a9fe:a9fe]``, ``[fe80::1%eth0]``)."""
    address = _server(server).address
    return address is not None and any(address in network for network in _NEVER_SERVERS)


def _no_userinfo(url: str) -> str:
    """``url`` without ``user:password@``."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else url


TRUSTED = TrustPolicy(trusted=True)
"""The operator's own kubeconfigs: kubectl behaviour (the SDK's default)."""

UNTRUSTED = TrustPolicy()
"""Someone else's kubeconfig, with no directory and no server allowed by the operator."""

TrustChoice = TrustPolicy | Literal["trusted", "untrusted"]


def trust_policy(value: TrustChoice | None, default: TrustPolicy) -> TrustPolicy:
    """``value`` as a ``TrustPolicy`` ("trusted"/"untrusted" accepted; None: ``default``)."""
    if value is None:
        return default
    if isinstance(value, TrustPolicy):
        return value
    if value == "trusted":
        return TRUSTED
    if value == "untrusted":
        return UNTRUSTED
    raise InvalidArgument(f"trust must be 'trusted', 'untrusted' or a TrustPolicy, not {value!r:.60}")
