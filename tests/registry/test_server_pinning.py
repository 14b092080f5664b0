"""Server pinning: under ``TrustPolicy.untrusted(pin_servers=True)`` a kubeconfig that brings its
own credentials (token, client certificate, basic auth, none) may only name a server the operator
allowed, or an EKS endpoint DescribeCluster confirms; so it cannot make this host reach an
internal https service. Link-local / metadata addresses are refused in every untrusted mode.

The attacker is a TLS listener on 127.0.0.1 whose CA the kubeconfig carries: a client that went
there would connect happily, and the listener counts every connection."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from attacker import Attacker, hostile_kubeconfig
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async import Clusters, KomError, TrustPolicy
from kom_async.errors import InvalidArgument, KubeconfigRefused
from kom_async.lab import EKSLab

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "own-secret-" + secrets.token_hex(12)


def _client_cert_user() -> dict[str, Any]:
    """A user with a client certificate of its own (as data, no host file)."""
    cert = trustme.CA(organization_name="tenant").issue_cert("tenant-user")
    return {
        "client-certificate-data": base64.b64encode(cert.cert_chain_pems[0].bytes()).decode(),
        "client-key-data": base64.b64encode(cert.private_key_pem.bytes()).decode(),
    }


OWN_CREDENTIALS: dict[str, dict[str, Any]] = {
    "static-token": {"token": SECRET},
    "client-cert": _client_cert_user(),
    "basic-auth": {"username": "tenant", "password": SECRET},
    "no-auth": {},
}


@pytest.fixture
def lab_aws(eks_lab_module: EKSLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[EKSLab]:
    """This host's AWS setup is the lab's (what an operator configures, not the kubeconfig)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in eks_lab_module.aws_env.items():
        monkeypatch.setenv(name, value)
    yield eks_lab_module


@pytest.mark.parametrize("kind", sorted(OWN_CREDENTIALS))
async def test_pinned_a_kubeconfig_with_its_own_credentials_cannot_reach_an_unlisted_https_server(
    eks_lab_module: EKSLab, kind: str
) -> None:
    lab_server = eks_lab_module.cluster("lab").server
    strict = TrustPolicy.untrusted(allowed_servers=[lab_server], pin_servers=True)
    async with Attacker.listening(tls=True) as evil, Clusters(trust=strict) as clusters:
        config = hostile_kubeconfig(evil.url, OWN_CREDENTIALS[kind], evil.ca_data)
        with pytest.raises(KubeconfigRefused) as info:
            await clusters.register_by_string(config, verify=True)  # verify: one request, if allowed
        message = str(info.value)
        assert evil.url in message and "allowed_servers" in message and "--allow-server" in message
        assert SECRET not in message
        assert clusters.values() == []
        evil.assert_received_nothing(SECRET)


async def test_unpinned_the_same_kubeconfig_does_reach_the_listener(eks_lab_module: EKSLab) -> None:
    """The control: without pin_servers the listener above would have been reached (so its
    zero count means the pin held, not that nothing tried)."""
    async with Attacker.listening(tls=True) as evil, Clusters(trust=TrustPolicy.untrusted()) as clusters:
        with pytest.raises(KomError):  # the listener answers 401
            await clusters.register_by_string(
                hostile_kubeconfig(evil.url, {"token": SECRET}, evil.ca_data), verify=True
            )
        assert evil.connections >= 1


async def test_pinned_a_listed_server_registers_and_answers(eks_lab_module: EKSLab) -> None:
    lab = eks_lab_module
    cluster = lab.cluster("lab")
    # listed in another spelling (a trailing slash): compared normalized
    strict = TrustPolicy.untrusted(allowed_servers=[f"{cluster.server}/"], pin_servers=True)
    async with Clusters(trust=strict) as clusters:
        k = await clusters.register_by_string(lab.kubeconfig("lab", static_token=True), cluster_id="listed")
        pods = await CoreV1Api(k.api_client).list_namespaced_pod("demo")
        assert len(pods.items) == 3


async def test_pinned_an_unlisted_lab_server_is_refused_and_unpinned_it_is_not(
    eks_lab_module: EKSLab,
) -> None:
    lab = eks_lab_module
    text = lab.kubeconfig("lab", static_token=True)
    async with Clusters(trust=TrustPolicy.untrusted(pin_servers=True)) as clusters:
        with pytest.raises(KubeconfigRefused, match="pin_servers"):
            await clusters.register_by_string(text)
    async with Clusters(trust=TrustPolicy.untrusted()) as clusters:  # the default stays open
        await clusters.register_by_string(text, verify=True)


async def test_pinned_an_eks_endpoint_describe_cluster_confirms_registers_and_answers(
    lab_aws: EKSLab,
) -> None:
    lab = lab_aws
    cluster = lab.cluster("lab")
    text = lab.kubeconfig("lab", env={"AWS_REGION": cluster.region})
    async with Clusters(trust=TrustPolicy.untrusted(pin_servers=True)) as clusters:
        k = await clusters.register_by_string(text, cluster_id="eks")
        assert clusters.get("eks").is_eks
        assert len((await CoreV1Api(k.api_client).list_namespaced_pod("demo")).items) == 3


async def test_pinned_an_eks_kubeconfig_naming_another_server_is_refused(lab_aws: EKSLab) -> None:
    cluster = lab_aws.cluster("lab")
    text = lab_aws.kubeconfig("lab", env={"AWS_REGION": cluster.region})
    async with Attacker.listening(tls=True) as evil:
        evil_text = text.replace(cluster.server, evil.url).replace(cluster.ca_data, evil.ca_data)
        async with Clusters(trust=TrustPolicy.untrusted(pin_servers=True)) as clusters:
            with pytest.raises(KubeconfigRefused, match="eks:DescribeCluster"):
                await clusters.register_by_string(evil_text)
        evil.assert_received_nothing("k8s-aws-v1.")


METADATA_SERVERS = [
    "https://169.254.169.254",
    "https://169.254.169.254.:443/latest",
    "https://2852039166",  # 169.254.169.254 as one number
    "https://0xa9.0xfe.0xa9.0xfe",
    "https://[fe80::1]:6443",
    "https://[fd00:ec2::254]",
    "https://[::ffff:169.254.169.254]",
    "https://\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463",  # circled digits
    "https://\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14",  # fullwidth
    "https://169\u3002254\u3002169\u3002254",  # ideographic full stops
    "https://[fd00:ec2::23]",  # EKS Pod Identity agent
    "https://169.254.170.23",
    "https://169.254.170.2",  # ECS task credentials
    "https://[64:ff9b::a9fe:aa17]",  # Pod Identity through NAT64
    "https://0251.0376.0252.027",  # 169.254.170.23 in octal
]


@pytest.mark.parametrize("server", METADATA_SERVERS)
@pytest.mark.parametrize("pin", [False, True], ids=["default", "pinned"])
async def test_a_link_local_or_metadata_server_is_refused_in_every_untrusted_mode(
    eks_lab_module: EKSLab, server: str, pin: bool
) -> None:
    # static token, no verify: even if the check broke, registering sends nothing anywhere
    policy = TrustPolicy.untrusted(allowed_servers=[server], pin_servers=pin)  # listing does not help
    async with Clusters(trust=policy) as clusters:
        with pytest.raises(KubeconfigRefused, match="link-local / cloud metadata"):
            await clusters.register_by_string(hostile_kubeconfig(server, {"token": SECRET}))
        assert clusters.values() == []


async def test_loopback_stays_allowed_in_the_default_mode(eks_lab_module: EKSLab) -> None:
    lab = eks_lab_module
    assert lab.cluster("lab").server.startswith("https://127.0.0.1:")
    async with Clusters(trust=TrustPolicy.untrusted()) as clusters:
        k = await clusters.register_by_string(lab.kubeconfig("lab", static_token=True))
        assert len((await CoreV1Api(k.api_client).list_namespaced_pod("demo")).items) == 3


async def test_a_unicode_spelling_of_an_allowed_server_is_the_server_the_transport_reaches(
    eks_lab_module: EKSLab,
) -> None:
    """The pin reads the host the transport connects to: fullwidth 127.0.0.1 names the listed
    listener (and is kept as 127.0.0.1), so the rule and the connection agree."""
    async with Attacker.listening(tls=True) as listed:
        wide = listed.url.replace("127.0.0.1", "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11")
        for allowed, named in ((listed.url, wide), (wide, listed.url)):
            policy = TrustPolicy.untrusted(allowed_servers=[allowed], pin_servers=True)
            before = listed.connections
            async with Clusters(trust=policy) as clusters:
                with pytest.raises(KomError):  # admitted; the listener answers 401
                    await clusters.register_by_string(
                        hostile_kubeconfig(named, {"token": SECRET}, listed.ca_data), verify=True
                    )
            assert listed.connections > before
        async with Clusters(trust=TrustPolicy.untrusted()) as clusters:
            await clusters.register_by_string(
                hostile_kubeconfig(wide, {"token": SECRET}, listed.ca_data), cluster_id="w"
            )
            assert clusters.get("w").server == listed.url


async def test_pin_servers_keeps_the_policy_frozen_and_refuses_a_trusted_pin() -> None:
    policy = TrustPolicy.untrusted(pin_servers=True)
    assert policy.pin_servers and not TrustPolicy.untrusted().pin_servers
    with pytest.raises(AttributeError):
        policy.pin_servers = False  # type: ignore[misc]
    with pytest.raises(InvalidArgument):
        TrustPolicy(trusted=True, pin_servers=True)
    assert TrustPolicy(False, (), frozenset(), frozenset()).pin_servers is False  # old positional form


async def test_a_trusted_registry_is_not_pinned() -> None:
    """Trusted kubeconfigs (the operator's own) behave like kubectl: no server rule at all."""
    from kom_async.config.kubeconfig import load_kubeconfig
    from kom_async.config.policy import TRUSTED

    selection = load_kubeconfig(hostile_kubeconfig("https://169.254.169.254", {"token": SECRET}))
    TRUSTED.check_selection(selection, eks=False)


async def test_untrusted_a_server_cannot_redirect_this_host_elsewhere(eks_lab_module: EKSLab) -> None:
    """A server the kubeconfig names answers 302 to a plain-http "internal" listener (standing
    in for http://169.254.169.254/latest/meta-data/): untrusted, the redirect is refused."""
    async with Attacker.listening() as inner, Attacker.listening(tls=True) as evil:
        evil.redirect = f"{inner.url}/latest/meta-data/"
        config = hostile_kubeconfig(evil.url, {"token": SECRET}, evil.ca_data)
        async with Clusters(trust=TrustPolicy.untrusted()) as clusters:
            k = await clusters.register_by_string(config)
            with pytest.raises(KubeconfigRefused, match="redirect") as info:
                await CoreV1Api(k.api_client).list_namespace()
            assert "/latest/meta-data/" in str(info.value) and SECRET not in str(info.value)
        assert evil.connections == 1
        inner.assert_received_nothing()
        async with Clusters() as clusters:  # trusted: the operator's own file, kubectl behaviour
            k = await clusters.register_by_string(config)
            with pytest.raises(ApiException):  # the inner listener answers 401
                await CoreV1Api(k.api_client).list_namespace()
        assert inner.connections >= 1 and SECRET.encode() not in inner.received
