"""The lab's AWS side: a moto server on 127.0.0.1 plus direct access to moto's backends.

Clients talk to moto over HTTP like they would to AWS; the lab itself reads and edits
moto's in-process state (EKS endpoints and CAs, IAM keys, AssumeRole sessions) because
moto's server cannot verify presigned tokens and returns fake cluster endpoints.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from kom_async.errors import KomError

PARTITION = "aws"
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")
_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


class LabAWSError(KomError):
    """The lab could not set up or change its AWS (moto) state."""


@dataclass(frozen=True, slots=True)
class AWSCredential:
    """What the lab knows about an access key: its secret, session token and owner ARN."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(repr=False)
    arn: str
    account_id: str


def canonical_arn(arn: str) -> str:
    """Map an STS assumed-role ARN to its IAM role ARN (as aws-iam-authenticator does)."""
    m = _ASSUMED_ROLE.match(arn)
    if m is None:
        return arn
    return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"


def _random_account_id() -> str:
    return "4" + "".join(secrets.choice("0123456789") for _ in range(11))


def stop_moto(server: Any, thread: threading.Thread | None) -> None:
    """Stop serving, wait for the thread, close the listening socket."""
    server.shutdown()
    if thread is not None:
        thread.join()
    server.server_close()


def serve_moto() -> tuple[Any, threading.Thread, Any]:
    """moto's WSGI app served on a free 127.0.0.1 port by a daemon thread: (server, thread, app).
    ``stop_moto(server, thread)`` stops it."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    wz = logging.getLogger("werkzeug")
    if wz.level == logging.NOTSET:
        wz.setLevel(logging.WARNING)  # werkzeug would otherwise print every request

    class OneServerHeader(MotoRequestHandler):
        """moto's answers carry their own ``Server`` header; http.server adds another, and
        a strict HTTP client (aiohttp from 3.13.4 on) refuses an answer with two."""

        def send_response(self, code: int, message: str | None = None) -> None:
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=OneServerHeader)
    # moto's own ThreadedMotoServer polls for shutdown every 0.5 s, which a lab started
    # and stopped per test pays each time; 50 ms is enough
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kom-async-lab-moto", daemon=True
    )
    thread.start()
    return server, thread, app


class MotoAWS:
    """One moto server thread plus this lab's private moto account (so labs never collide)."""

    def __init__(self, account_id: str | None = None) -> None:
        self.account_id = account_id or _random_account_id()
        #: more accounts of this lab (reached by AssumeRole into their roles), reset on stop
        self.other_accounts: list[str] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        #: moto's WSGI app, which the lab's AWS proxy calls in-process
        self.app: Any = None
        self.url = ""
        self.admin: AWSCredential | None = None

    async def start(self) -> None:
        """Start moto's server on a free loopback port and create the lab's admin IAM user."""
        server, thread, self.app = await asyncio.to_thread(serve_moto)
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.admin = self.create_user("lab-admin")

    async def stop(self) -> None:
        """Stop the server thread and forget this lab's moto account."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            await asyncio.to_thread(stop_moto, server, thread)
        from moto.eks.models import eks_backends
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        for backends in (eks_backends, iam_backends, sts_backends):
            for account in (self.account_id, *self.other_accounts):
                if account in backends:
                    backends[account].reset()

    def create_account(self) -> str:
        """A new moto account of this lab (its backends exist once something is created)."""
        account = _random_account_id()
        self.other_accounts.append(account)
        return account

    # -- IAM -------------------------------------------------------------------------
    def _iam(self, account_id: str | None = None) -> Any:
        from moto.iam.models import iam_backends

        return iam_backends[account_id or self.account_id][PARTITION]

    def create_user(self, name: str) -> AWSCredential:
        """Create an IAM user with one access key; return the key (secret included)."""
        iam = self._iam()
        user = iam.create_user("us-east-1", name)
        key = iam.create_access_key(name)
        return AWSCredential(key.access_key_id, key.secret_access_key, None, user.arn, self.account_id)

    def create_role(self, name: str, account_id: str | None = None) -> str:
        """Create an IAM role anyone in the lab may assume (in ``account_id``, default the
        lab's own account); return its ARN. moto's AssumeRole into a role of another account
        gives keys whose calls land in that account's backends."""
        role = self._iam(account_id).create_role(
            role_name=name,
            assume_role_policy_document=_TRUST_POLICY,
            path="/",
            permissions_boundary=None,
            description="kom-async lab role",
            tags=[],
            max_session_duration=None,
        )
        return str(role.arn)

    def lookup(self, access_key_id: str) -> AWSCredential | None:
        """Find an access key in moto's state: an IAM user key or an AssumeRole session."""
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        for account_id in list(iam_backends.keys()):
            for iam in list(iam_backends[account_id].values()):
                key = iam.access_keys.get(access_key_id)
                if key is None:
                    continue
                if getattr(key, "status", "Active") != "Active":
                    return None
                if key.user_name:
                    user = iam.users.get(key.user_name)
                    if user is None:
                        return None
                    return AWSCredential(access_key_id, key.secret_access_key, None, user.arn, account_id)
                sts_for_account: Any = sts_backends.get(account_id) or {}
                for sts in list(sts_for_account.values()):
                    for role in list(sts.assumed_roles):
                        if role.access_key_id == access_key_id:
                            return AWSCredential(
                                access_key_id,
                                role.secret_access_key,
                                role.session_token,
                                role.arn,
                                account_id,
                            )
        return None

    # -- EKS -------------------------------------------------------------------------
    def _eks(self, region: str, account_id: str | None = None) -> Any:
        from moto.eks.models import eks_backends

        return eks_backends[account_id or self.account_id][region]

    def create_cluster(
        self,
        name: str,
        region: str,
        *,
        endpoint: str,
        ca_data: str,
        status: str,
        version: str,
        account_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """Create an EKS cluster in moto pointing at the lab's API server; return its ARN."""
        from moto.eks.models import Cluster

        account_id = account_id or self.account_id
        eks = self._eks(region, account_id)
        if name in eks.clusters:
            raise LabAWSError(f"EKS cluster {name!r} already exists in {region}")
        # built directly: moto's create_cluster validates the role ARN by creating a boto3
        # Session per call (~0.1 s), too slow for labs with a thousand clusters
        cluster = Cluster(
            name=name,
            role_arn=f"arn:aws:iam::{account_id}:role/kom-async-lab-eks",
            resources_vpc_config={"subnetIds": [], "securityGroupIds": []},
            account_id=account_id,
            region_name=region,
            aws_partition=PARTITION,
            version=version,
            tags=dict(tags or {}),
        )
        eks.clusters[name] = cluster
        eks.cluster_count += 1
        cluster.endpoint = endpoint
        cluster.certificate_authority = {"data": ca_data}
        cluster.status = status
        return str(cluster.arn)

    def set_cluster_status(self, name: str, region: str, status: str, account_id: str | None = None) -> None:
        """Change what DescribeCluster reports as the cluster's status."""
        self._eks(region, account_id).clusters[name].status = status

    def delete_cluster(self, name: str, region: str, account_id: str | None = None) -> None:
        """Remove the cluster from moto (DescribeCluster then answers ResourceNotFound)."""
        self._eks(region, account_id).clusters.pop(name, None)
