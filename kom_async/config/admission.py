"""Admission: whether a registration may go ahead, decided in one call before any I/O.

``admit`` reads a kubeconfig selection against the exec policy, the trust policy, the EKS
exec user it may hold and the cluster id's rules; ``admit_eks_by_name`` does the same for an
EKS cluster that ``register_eks`` names. Both return an ``Admission``: what to connect to (with
which TLS), the EKS settings, whether DescribeCluster must confirm the server before a token
is minted, and why. Connecting only follows it; a refusal is raised here, typed.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from kom_async.config.eks import EKSAuthConfig, eks_config_from_exec
from kom_async.config.kubeconfig import KubeconfigSelection, UserAuth
from kom_async.config.policy import ExecPolicy, TrustPolicy, normalize_server
from kom_async.config.urls import redact_url
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, InvalidArgument, KomError, KubeconfigRefused


@dataclass(frozen=True)
class Admission:
    """What one registration may do, decided before anything is read from the network.

    ``selection`` is the kubeconfig selection to connect with (its TLS already from the
    operator's trust where host credentials go out), or None for a cluster named by
    ``register_eks``: DescribeCluster's answer makes it. ``confirm_server``: the selection's
    server must be the endpoint DescribeCluster reports for ``eks.cluster_name`` before a token
    is minted. ``trusted``: the kubeconfig is the operator's own (redirects followed, trusted
    limits). ``reasons`` says, one line each, what was allowed and why.
    """

    cluster_id: str
    selection: KubeconfigSelection | None
    eks: EKSAuthConfig | None
    confirm_server: bool
    trusted: bool
    reasons: tuple[str, ...] = ()

    @property
    def needs_describe(self) -> bool:
        """True when DescribeCluster must answer before connecting (by name, or to confirm)."""
        return self.selection is None or self.confirm_server

    def described(self, endpoint: str, ca_data: bytes) -> KubeconfigSelection:
        """The selection to connect with, given DescribeCluster's ``endpoint`` and CA: by name,
        made from them; to confirm, the kubeconfig's own server if it is that endpoint (then
        trusted with EKS's CA and no other TLS name), else ``KubeconfigRefused``."""
        if self.eks is None:
            raise ValueError("only an EKS admission is described")
        if self.selection is None:
            return _described_selection(self.cluster_id, self.eks, endpoint, ca_data)
        if not self.confirm_server:
            return self.selection
        if normalize_server(endpoint) != normalize_server(self.selection.server):
            raise self.describe_refused(f"EKS reports its endpoint as {endpoint!r}")
        return dataclasses.replace(self.selection, ca_data=ca_data, tls_server_name=None)

    def describe_failed(self, error: KomError) -> KomError:
        """What a failed DescribeCluster means: by name, that failure; to confirm a server,
        a refusal to send it a token."""
        if self.selection is None:
            return error
        return self.describe_refused(f"DescribeCluster failed: {error}")

    def describe_refused(self, why: str) -> KubeconfigRefused:
        """The refusal of an untrusted EKS server that DescribeCluster did not confirm."""
        assert self.selection is not None and self.eks is not None
        host = self.selection.server.split("://", 1)[-1].rsplit("@", 1)[-1]
        return KubeconfigRefused(
            f"server {host!r} is not confirmed as the endpoint of EKS cluster "
            f"{self.eks.cluster_name!r}, so no token is sent to it ({why}). An untrusted "
            "kubeconfig's EKS server must be the endpoint eks:DescribeCluster reports for its "
            "cluster name: grant this AWS identity eks:DescribeCluster on the cluster, or have the "
            "operator allow the server (TrustPolicy(allowed_servers=...), kom-async mcp "
            "--allow-server URL)"
        )


def admit(
    selection: KubeconfigSelection,
    *,
    cluster_id: str | None,
    trust: TrustPolicy,
    exec_policy: ExecPolicy | None,
    require_eks: bool = False,
) -> Admission:
    """Every rule a kubeconfig registration must pass, in order, before any I/O: the cluster
    id; the exec plugin (``exec_policy``, or the default ``ExecPolicy()`` when untrusted); the
    EKS exec user (``require_eks`` refuses any other); the trust policy (files, https, metadata
    addresses, exec env and arguments, where host credentials may go and over which CA)."""
    cid = cluster_id or selection.context_name
    check_name(cid, "cluster_id")
    reasons = [_trust_reason(trust)]
    policy = exec_policy or (None if trust.trusted else ExecPolicy())
    plugin = selection.auth.exec
    if plugin is not None:
        if policy is not None:
            policy.check_kubeconfig(selection)  # before anything else looks at what it runs
        allowed_by = repr(policy) if policy is not None else "the trusted default (any plugin)"
        reasons.append(f"exec plugin {os.path.basename(plugin.command)!r} allowed by {allowed_by}")
    eks = _eks_config(selection, require=require_eks)
    admitted = trust.check_selection(  # TLS from the operator's trust for host credentials
        selection, eks=eks is not None, eks_unsupported=eks.unsupported if eks is not None else ()
    )
    confirm = eks is not None and trust.needs_eks_check(selection.server)
    server = redact_url(selection.server)
    if eks is not None:
        reasons.append(f"EKS user of cluster {eks.cluster_name!r} (region {eks.region or 'from AWS config'})")
    if confirm:
        reasons.append(f"server {server} gets a token only once DescribeCluster reports it")
    elif not trust.trusted and trust.server_allowed(selection.server):
        reasons.append(f"server {server} is one the operator allowed")
    return Admission(cid, admitted, eks, confirm, trust.trusted, tuple(reasons))


def admit_eks_by_name(config: EKSAuthConfig, *, cluster_id: str | None, trust: TrustPolicy) -> Admission:
    """The rules of ``register_eks``: the names, and the exec env the trust policy allows; the
    endpoint and CA will be EKS's own answer, so there is no server to confirm."""
    check_name(config.cluster_name, "cluster_name")
    check_name(config.region, "region")
    cid = cluster_id or f"{config.region}-{config.cluster_name}"
    check_name(cid, "cluster_id")
    trust.check_env(config.env, what="register_eks env")
    reasons = (
        _trust_reason(trust),
        f"EKS cluster {config.cluster_name!r} by name: endpoint and CA from DescribeCluster",
    )
    return Admission(cid, None, config, confirm_server=False, trusted=True, reasons=reasons)


def check_name(value: object, what: str) -> None:
    """Ids and names end up in log lines and task names: printable, one line, bounded."""
    if not isinstance(value, str) or not value.strip() or len(value) > 253:
        raise InvalidArgument(f"{what} must be a non-empty string of at most 253 characters")
    if not value.isprintable():
        raise InvalidArgument(
            f"{what} {value[:60]!r} contains a newline or another control character; "
            "use letters, digits and punctuation (pass cluster_id=... to choose the id)"
        )


def _trust_reason(trust: TrustPolicy) -> str:
    if trust.trusted:
        return "trusted: the operator's own kubeconfig, kubectl behaviour"
    return "untrusted: " + (
        "servers pinned" if trust.pin_servers else "host credentials only to vouched servers"
    )


def _eks_config(selection: KubeconfigSelection, *, require: bool) -> EKSAuthConfig | None:
    """The EKS settings of the selection's exec user, or None; ``require`` refuses a user that
    does not authenticate with EKS."""
    if selection.auth.kind == "eks-exec" and selection.auth.exec is not None:
        return eks_config_from_exec(selection.auth.exec, selection.server)
    if require:
        raise EKSAuthError(
            EKSAuthErrorKind.InvalidKubeconfig,
            f"context {selection.context_name!r} does not authenticate with EKS (its user uses "
            f"{selection.auth.kind!r} auth); register it as a Kubernetes cluster, not as an EKS one",
        )
    return None


def _described_selection(
    cid: str, config: EKSAuthConfig, endpoint: str, ca_data: bytes
) -> KubeconfigSelection:
    """The selection of an EKS cluster registered by name: the endpoint and CA DescribeCluster
    reported, tokens minted natively (no kubeconfig behind it)."""
    return KubeconfigSelection(
        context_name=cid,
        cluster_name=config.cluster_name,
        user_name="",
        server=endpoint.rstrip("/"),
        namespace=None,
        ca_data=ca_data,
        insecure_skip_tls_verify=False,
        tls_server_name=None,
        proxy_url=None,
        auth=UserAuth(kind="eks-exec"),
    )
