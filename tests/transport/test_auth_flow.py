"""One auth flow for requests, streams and WebSocket upgrades (issue 23 item 1): an EKS identity
the cluster refuses at the exec and port-forward upgrades (and only there) gets the same
refresh, retry and diagnosis as a plain request — an ``EKSAuthError(PermissionDenied)``."""

from __future__ import annotations

import pytest

from kom_async import Clusters
from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.kubectl.port_forward import PROTOCOLS as FORWARD_PROTOCOLS
from kom_async.lab import EKSLab
from kom_async.transport import ws
from kom_async.transport.rest import Target

pytestmark = pytest.mark.asyncio(loop_scope="module")

WEB_0 = Target(kind="Pod", namespace="demo", name="web-0")


async def test_an_eks_identity_refused_at_the_upgrades_is_permission_denied(eks_lab_module: EKSLab) -> None:
    lab = eks_lab_module
    cred = lab.create_user("no-upgrades", map_as="no-upgrades")
    lab.refuse_upgrades(cred.arn)
    async with Clusters() as clusters:
        kubectl = await clusters.register_eks("lab", "us-east-1", env=lab.env_for(cred))
        pod = kubectl.pod("web-0", "demo")
        assert (await pod.get())["metadata"]["name"] == "web-0"  # plain requests are accepted
        with pytest.raises(EKSAuthError) as at_exec:
            await pod.exec(["true"])
        with pytest.raises(EKSAuthError) as at_forward:
            await ws.connect(
                kubectl.api_client,
                "/api/v1/namespaces/demo/pods/web-0/portforward",
                query=[("ports", "8080")],
                protocols=FORWARD_PROTOCOLS,
                target=WEB_0,
            )
        stats = clusters.get("us-east-1-lab").auth_stats
        lab.refuse_upgrades(cred.arn, refuse=False)
        assert (await pod.exec(["echo", "ok"])).stdout == b"ok\n"  # the same flow, now accepted
    for caught in (at_exec, at_forward):
        assert caught.value.kind is EKSAuthErrorKind.PermissionDenied, caught.value
        assert cred.arn in str(caught.value)
    assert stats is not None
    assert stats.auth_failures == {"PermissionDenied": 2}  # one diagnosis per refused upgrade
    assert stats.fetches == 3  # the first token, then one refresh per refused upgrade
    assert stats.unauthorized_recoveries == 0
