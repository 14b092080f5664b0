"""``EKSLab``: moto for AWS, an HTTPS Kubernetes API stand-in, and the knobs tests turn: its
clusters, kubeconfigs, tokens and API faults here; its AWS side in ``accounts.py``."""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kom_async.auth.clock import Clock, system_clock
from kom_async.lab import behaviour
from kom_async.lab.accounts import LabAccount, LabAWS, LabError
from kom_async.lab.apiserver import KubeAPIServer
from kom_async.lab.authn import ADMIN_GROUPS, Authenticator, IdentityMap
from kom_async.lab.aws import MotoAWS
from kom_async.lab.awsproxy import AWSProxy
from kom_async.lab.faults import Fault
from kom_async.lab.kubeconfig import (
    build_kubeconfig,
    eks_get_token_args,
    exec_user,
    write_private,
)
from kom_async.lab.podlogs import synthetic_log
from kom_async.lab.state import ClusterState, ClusterStats, LabUser

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class LabCluster:
    """A lab EKS cluster as a user sees it: name, region, endpoint, CA and ARN."""

    name: str
    region: str
    server: str
    ca_pem: str
    ca_data: str
    arn: str

    @property
    def id(self) -> str:
        """``<region>-<name>``, the id ``Clusters.register_eks`` gives this cluster."""
        return f"{self.region}-{self.name}"

    @property
    def account_id(self) -> str:
        """The AWS account the cluster lives in (from its ARN)."""
        return self.arn.split(":")[4]


class EKSLab(LabAWS):
    """An offline EKS: ``async with EKSLab() as lab: c = await lab.create_cluster("c1")``.

    ``clock`` (anything with ``now()``; see :class:`kom_async.lab.clock.FakeClock`)
    is the time the token verifier and object timestamps use.
    """

    def __init__(self, clock: Clock | None = None, *, region: str = "us-east-1") -> None:
        self.clock: Clock = clock or system_clock
        self.region = region
        self.identities = IdentityMap()
        self._aws = MotoAWS()
        self._proxy: AWSProxy | None = None
        self._api: KubeAPIServer | None = None
        self._clusters: dict[tuple[str, str], LabCluster] = {}
        self._dir: Path | None = None
        self._ca: Any = None
        self.ca_pem = ""
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> EKSLab:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start moto, the AWS fault proxy and the HTTPS API server (all on 127.0.0.1)."""
        if self._started:
            return
        import trustme

        self._started = True
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="kom-async-lab-"))
            for name in ("config", "credentials"):
                write_private(self._dir / name, "")
            self._ca = trustme.CA(organization_name="kom-async lab")
            self.ca_pem = self._ca.cert_pem.bytes().decode()
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
            await self._aws.start()
            admin = self._admin
            self.identities.map(admin.arn, "lab-admin", ADMIN_GROUPS)
            self._proxy = AWSProxy(self._aws.url, self._aws.app)
            self._proxy.account_of = self._account_of
            await self._proxy.start()
            authn = Authenticator(
                now=self.clock.now,
                lookup=self._aws.lookup,
                local_sts_hosts=self._local_sts_hosts,
                identities=self.identities,
            )
            self._api = KubeAPIServer(
                ssl_context=server_ctx, authenticator=authn, now=self.clock.now, sleep=self.clock.sleep
            )
            await self._api.start()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop everything the lab started and delete its files."""
        api, self._api = self._api, None
        proxy, self._proxy = self._proxy, None
        try:
            if api is not None:
                await api.stop()
            if proxy is not None:
                await proxy.stop()
        finally:
            await self._aws.stop()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            self._clusters.clear()
            self._started = False

    def _require(self) -> KubeAPIServer:
        if self._api is None or self._proxy is None:
            raise LabError("the lab is not running; use 'async with EKSLab() as lab:'")
        return self._api

    # -- clusters -----------------------------------------------------------------------
    async def create_cluster(
        self,
        name: str,
        region: str | None = None,
        *,
        static_tokens: Mapping[str, str] | None = None,
        status: str = "ACTIVE",
        version: str = "1.32",
        seed: bool = True,
        account: LabAccount | None = None,
        tags: Mapping[str, str] | None = None,
        extra_ca_pem: str | None = None,
    ) -> LabCluster:
        """Create an EKS cluster (in moto) served by the lab's API server.

        ``extra_ca_pem`` (a CA certificate of its own) is added to the CA bundle that
        DescribeCluster and its kubeconfigs report: one CA per cluster, as real clusters have,
        that still verifies the lab's server.

        ``static_tokens`` maps extra bearer tokens to usernames (admins); ``seed`` puts the
        demo namespace, pods, deployment and two nodes in it; ``account`` (from
        :meth:`create_account`) puts it in another account. Names are unique per region
        across the lab's accounts (the API server serves ``/clusters/<region>/<name>``).
        """
        api = self._require()
        region = region or self.region
        if (region, name) in self._clusters:
            raise LabError(f"lab cluster {region}/{name} already exists")
        server = api.url_for(region, name)
        ca_pem = self.ca_pem + (extra_ca_pem or "")
        ca_data = base64.b64encode(ca_pem.encode()).decode()
        arn = self._aws.create_cluster(
            name,
            region,
            endpoint=server,
            ca_data=ca_data,
            status=status,
            version=version,
            account_id=account.account_id if account is not None else None,
            tags=dict(tags or {}),
        )
        state = ClusterState(name, region, self.clock.now)
        for token, username in (static_tokens or {}).items():
            state.static_tokens[token] = LabUser(username, ADMIN_GROUPS, "static")
        if seed:
            behaviour.seed(state, state.types, self.clock.now())
        api.clusters[(region, name)] = state
        cluster = LabCluster(name, region, server, ca_pem, ca_data, arn)
        self._clusters[(region, name)] = cluster
        return cluster

    async def delete_cluster(self, name: str, region: str | None = None) -> None:
        """Remove a cluster: DescribeCluster says not found, its URL answers 404."""
        cluster = self.cluster(name, region)
        api = self._require()
        state = api.clusters.pop((cluster.region, cluster.name))
        state.store.drop_watches()
        self._aws.delete_cluster(cluster.name, cluster.region, cluster.account_id)
        del self._clusters[(cluster.region, cluster.name)]

    def set_cluster_status(self, name: str, status: str, region: str | None = None) -> None:
        """Change the status DescribeCluster reports (e.g. "CREATING", "FAILED")."""
        cluster = self.cluster(name, region)
        self._aws.set_cluster_status(cluster.name, cluster.region, status, cluster.account_id)

    def cluster(self, name: str, region: str | None = None) -> LabCluster:
        """A created cluster by name (and region, if the name exists in several)."""
        matches = [c for (r, n), c in self._clusters.items() if n == name and region in (None, r)]
        if not matches:
            raise LabError(f"no lab cluster named {name!r}" + (f" in {region}" if region else ""))
        if len(matches) > 1:
            raise LabError(f"lab cluster name {name!r} exists in several regions; pass region=")
        return matches[0]

    @property
    def clusters(self) -> list[LabCluster]:
        """Every cluster created so far."""
        return list(self._clusters.values())

    def _state(self, name: str, region: str | None = None) -> ClusterState:
        c = self.cluster(name, region)
        return self._require().clusters[(c.region, c.name)]

    # -- tokens and kubeconfigs -----------------------------------------------------
    def static_token(self, name: str, region: str | None = None) -> str:
        """An admin bearer token the cluster accepts without EKS (rotated by revoke_tokens)."""
        return self._state(name, region).default_static_token

    def serve_at_root(self, name: str, region: str | None = None) -> dict[str, str]:
        """Also serve cluster ``name`` at the server's root, as a pod reaches its own cluster;
        returns the ``KUBERNETES_SERVICE_HOST`` / ``_PORT`` environment that points at it."""
        server = self._require()
        state = self._state(name, region)
        server.root_cluster = next(key for key, value in server.clusters.items() if value is state)
        port = server.base_url.rsplit(":", 1)[1]
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}

    def add_static_token(
        self,
        name: str,
        token: str,
        username: str = "static-user",
        groups: Sequence[str] = ADMIN_GROUPS,
        region: str | None = None,
    ) -> None:
        """Make ``token`` a valid bearer token for ``username`` on one cluster."""
        self._state(name, region).static_tokens[token] = LabUser(username, tuple(groups), "static")

    def kubeconfig(
        self,
        name: str,
        *,
        region: str | None = None,
        user: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        exec_command: str = "aws",
        exec_args: Sequence[str] | None = None,
        env: Mapping[str, str] | None = _UNSET,
        static_token: str | bool | None = None,
        role_arn: str | None = None,
        profile: str | None = None,
    ) -> str:
        """Kubeconfig YAML for a lab cluster, like ``aws eks update-kubeconfig`` writes.

        Default: exec ``aws --region R eks get-token --cluster-name N --output json`` with
        :attr:`aws_env` as its env. ``static_token=True`` (or a token string) writes a
        token user instead; ``exec_command``/``exec_args`` run another plugin;
        ``env=None`` writes no env; ``profile`` adds ``AWS_PROFILE``.
        """
        c = self.cluster(name, region)
        entry = c.arn
        if static_token:
            token = static_token if isinstance(static_token, str) else self.static_token(c.name, c.region)
            user_entry: dict[str, Any] = {"token": token}
        else:
            args = (
                list(exec_args) if exec_args is not None else eks_get_token_args(c.name, c.region, role_arn)
            )
            env_map = dict(self.aws_env) if env is _UNSET else dict(env or {})
            if profile:
                env_map.pop("AWS_ACCESS_KEY_ID", None)
                env_map.pop("AWS_SECRET_ACCESS_KEY", None)
                env_map["AWS_PROFILE"] = profile
            user_entry = exec_user(exec_command, args, env_map)
        return build_kubeconfig(
            entry_name=entry,
            server=c.server,
            ca_data=c.ca_data,
            user=user_entry,
            context=context,
            namespace=namespace,
            user_name=user,
        )

    def write_kubeconfig(self, path: str | os.PathLike[str], name: str, **options: Any) -> Path:
        """Write :meth:`kubeconfig` to ``path`` with mode 0600; return the path."""
        return write_private(path, self.kubeconfig(name, **options))

    # -- fault knobs and counters ---------------------------------------------------
    def revoke_tokens(self, name: str | None = None, region: str | None = None) -> None:
        """Reject every token issued before now (EKS and static) on one or all clusters.

        EKS tokens signed in an earlier second, or already presented, are rejected; note that
        a token presigned again within the same second with the same key is byte-identical
        to the old one, so clients get a new valid token from the next second on. Static
        tokens are all revoked; :meth:`static_token` then returns a fresh one.
        """
        api = self._require()
        states = [self._state(name, region)] if name else list(api.clusters.values())
        for state in states:
            api.authenticator.revoke(state)

    def legacy_discovery(self, name: str, region: str | None = None, *, on: bool = True) -> None:
        """Answer discovery like a pre-1.26 server (one request per group version) instead of
        with aggregated discovery; ``on=False`` restores the default."""
        self._require()
        self._state(name, region).aggregated_discovery = not on

    def api_fault(
        self,
        name: str,
        *,
        region: str | None = None,
        delay: float = 0.0,
        status: int | None = None,
        retry_after: float | None = None,
        unavailable: bool = False,
        count: int | None = None,
    ) -> Fault:
        """Make one cluster's API server slow (``delay``), fail (``status``) or drop connections.

        Applies to the next ``count`` requests (None: until :meth:`clear_api_fault`).
        """
        fault = Fault(delay, status, retry_after, unavailable, count)
        self._state(name, region).fault = fault
        return fault

    def clear_api_fault(self, name: str, region: str | None = None) -> None:
        """Let a cluster's API server behave again."""
        self._state(name, region).fault = None

    def drop_watches(self, name: str, region: str | None = None) -> int:
        """Cut every open watch connection of a cluster; return how many were cut."""
        return self._state(name, region).store.drop_watches()

    def compact(self, name: str, region: str | None = None) -> None:
        """Forget a cluster's history up to now (etcd compaction): old watches and list tokens get 410."""
        state = self._state(name, region)
        state.store.compact()
        state.pager.clear()

    def stats(self, name: str, region: str | None = None) -> ClusterStats:
        """A snapshot of one cluster's counters (requests, verbs, tokens, 401s...)."""
        return self._state(name, region).stats.copy()

    def _pod_log_key(
        self, name: str, region: str | None, namespace: str, pod: str, container: str | None
    ) -> tuple[ClusterState, tuple[str, str], Callable[[], list[tuple[datetime, str]]]]:
        state = self._state(name, region)
        obj = state.store.find(("", "pods"), namespace, pod)
        if obj is None:
            raise LabError(f"no pod {namespace}/{pod} in lab cluster {name}")
        spec = obj.get("spec") or {}
        container = container or str((spec.get("containers") or [{}])[0].get("name", ""))
        now = self.clock.now()
        return state, (obj["metadata"]["uid"], container), lambda: synthetic_log(pod, container, now)

    def set_pod_log(
        self,
        name: str,
        namespace: str,
        pod: str,
        lines: Sequence[tuple[datetime, str] | str],
        *,
        container: str | None = None,
        region: str | None = None,
    ) -> None:
        """Set what ``pods/log`` returns for a pod's container (default: its first); str lines: now."""
        state, key, _ = self._pod_log_key(name, region, namespace, pod, container)
        now = self.clock.now()
        state.logs.set(key, [line if isinstance(line, tuple) else (now, line) for line in lines])

    def append_pod_log(
        self,
        name: str,
        namespace: str,
        pod: str,
        *lines: str,
        container: str | None = None,
        region: str | None = None,
    ) -> None:
        """Append lines (stamped now) to a container's log; ``follow=true`` readers get them at once."""
        state, key, default = self._pod_log_key(name, region, namespace, pod, container)
        now = self.clock.now()
        state.logs.append(key, [(now, line) for line in lines], default)

    def set_port_target(
        self, name: str, namespace: str, pod: str, port: int, target: tuple[str, int] | None
    ) -> None:
        """Port-forwards to ``pod``:``port`` reach ``target`` (a loopback server), or echo (None)."""
        state = self._state(name)
        if target is None:
            state.port_targets.pop((namespace, pod, port), None)
            return
        host, target_port = target
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise LabError(f"a port target must be a loopback address, not {host!r}")
        state.port_targets[(namespace, pod, port)] = (host, int(target_port))
