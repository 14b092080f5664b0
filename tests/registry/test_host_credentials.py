"""Host credentials only where the operator vouches: a credential taken from this host (a client
certificate or key file, a tokenFile, an exec plugin, the host's AWS identity) goes only to a
server the operator allowed (or DescribeCluster confirmed), over TLS anchored in the operator's
trust (the CA given with the allowed server, else the system store), never in a CA or a
tls-server-name that an untrusted kubeconfig carries.

The attacker is a TLS listener on 127.0.0.1 whose CA the kubeconfig carries; it asks every
client for a certificate and records the ones presented."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from attacker import Attacker, hostile_kubeconfig
from kubernetes_asyncio.client import CoreV1Api

from kom_async import Clusters, KomError, TrustPolicy
from kom_async.errors import InvalidArgument, KubeconfigRefused
from kom_async.lab import EKSLab

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "host-token-" + secrets.token_hex(12)
OPERATOR_CA = trustme.CA(organization_name="operator")


@pytest.fixture
def kube(tmp_path: Path) -> Path:
    """The operator's ~/.kube: the directory untrusted kubeconfigs may name files in, holding the
    operator's admin certificate and key and a host token file."""
    admin = OPERATOR_CA.issue_cert("admin", common_name="operator-admin")
    (tmp_path / "admin.crt").write_bytes(admin.cert_chain_pems[0].bytes())
    (tmp_path / "admin.key").write_bytes(admin.private_key_pem.bytes())
    (tmp_path / "token").write_text(SECRET)
    return tmp_path


def kubeconfig(server: str, user: dict[str, Any], **cluster: Any) -> str:
    """A one-context kubeconfig with extra cluster fields (``tls-server-name``...)."""
    return yaml.safe_dump(
        {
            "current-context": "agent",
            "contexts": [{"name": "agent", "context": {"cluster": "agent", "user": "agent"}}],
            "clusters": [{"name": "agent", "cluster": {"server": server, **cluster}}],
            "users": [{"name": "agent", "user": user}],
        }
    )


def cert_files(kube: Path) -> dict[str, Any]:
    return {"client-certificate": str(kube / "admin.crt"), "client-key": str(kube / "admin.key")}


@pytest.fixture
def lab_aws(eks_lab_module: EKSLab, monkeypatch: pytest.MonkeyPatch) -> Iterator[EKSLab]:
    """This host's AWS setup is the lab's (what an operator configures, not the kubeconfig)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in eks_lab_module.aws_env.items():
        monkeypatch.setenv(name, value)
    yield eks_lab_module


async def test_the_operators_client_certificate_file_never_goes_to_a_server_the_agent_names(
    eks_lab_module: EKSLab, kube: Path
) -> None:
    async with Attacker.listening(tls=True, client_ca=OPERATOR_CA) as evil:
        config = hostile_kubeconfig(evil.url, cert_files(kube), evil.ca_data)
        async with Clusters(trust=TrustPolicy.untrusted(allowed_dirs=[kube])) as clusters:
            with pytest.raises(KubeconfigRefused) as info:
                await clusters.register_by_string(config, verify=True)  # verify: one request, if admitted
            message = str(info.value)
            assert "client certificate or key file" in message and "--allow-server" in message
            assert clusters.values() == []
        evil.assert_received_nothing()
        # the control: the operator's own (trusted) registry does present it, so the zero above
        # means the rule held, not that the listener could not see a certificate
        async with Clusters() as clusters:
            with pytest.raises(KomError):  # the listener answers 401
                await clusters.register_by_string(config, verify=True)
        assert evil.client_certs and "operator-admin" in str(evil.client_certs[0])


async def test_a_kubeconfigs_own_client_certificate_data_may_go_to_its_own_server(
    eks_lab_module: EKSLab, kube: Path
) -> None:
    """Data in the kubeconfig is the agent's own credential, not the host's: not this rule's business."""
    own = trustme.CA(organization_name="tenant").issue_cert("tenant")
    user = {
        "client-certificate-data": base64.b64encode(own.cert_chain_pems[0].bytes()).decode(),
        "client-key-data": base64.b64encode(own.private_key_pem.bytes()).decode(),
    }
    async with Attacker.listening(tls=True) as evil:
        async with Clusters(trust=TrustPolicy.untrusted(allowed_dirs=[kube])) as clusters:
            with pytest.raises(KomError):  # the listener answers 401
                await clusters.register_by_string(
                    hostile_kubeconfig(evil.url, user, evil.ca_data), verify=True
                )
        assert evil.connections >= 1


@pytest.mark.parametrize("user", ["tokenFile", "client-cert-files"])
async def test_an_allowed_server_never_proves_itself_with_the_kubeconfigs_own_ca(
    eks_lab_module: EKSLab, kube: Path, user: str
) -> None:
    """--allow-server https://k8s.corp.example:6443; an impostor at that name with its own CA in
    the kubeconfig: the host token (or certificate) is refused before anything connects."""
    creds = {"tokenFile": str(kube / "token")} if user == "tokenFile" else cert_files(kube)
    async with Attacker.listening(tls=True, client_ca=OPERATOR_CA) as evil:
        policy = TrustPolicy.untrusted(allowed_dirs=[kube], allowed_servers=[evil.url])
        async with Clusters(trust=policy) as clusters:
            with pytest.raises(KubeconfigRefused) as info:
                await clusters.register_by_string(
                    hostile_kubeconfig(evil.url, creds, evil.ca_data), verify=True
                )
            message = str(info.value)
            assert "certificate-authority" in message and "--allow-server URL=CA_FILE" in message
            assert SECRET not in message
            with pytest.raises(KubeconfigRefused, match="tls-server-name"):
                text = kubeconfig(evil.url, creds, **{"tls-server-name": "evil.example"})
                await clusters.register_by_string(text, verify=True)
            assert clusters.values() == []
        evil.assert_received_nothing(SECRET)


async def test_an_allowed_server_without_an_operator_ca_is_checked_against_the_system_store(
    eks_lab_module: EKSLab, kube: Path
) -> None:
    async with Attacker.listening(tls=True) as evil:
        policy = TrustPolicy.untrusted(allowed_dirs=[kube], allowed_servers=[evil.url])
        async with Clusters(trust=policy) as clusters:
            with pytest.raises(KomError):  # its CA is in no system store: the handshake fails
                await clusters.register_by_string(
                    hostile_kubeconfig(evil.url, {"tokenFile": str(kube / "token")}), verify=True
                )
        assert SECRET.encode() not in evil.received


async def test_the_operators_ca_for_an_allowed_server_carries_host_credentials(
    eks_lab_module: EKSLab, kube: Path
) -> None:
    lab = eks_lab_module
    cluster = lab.cluster("lab")
    (kube / "token").write_text(lab.static_token("lab"))
    (kube / "lab-ca.pem").write_text(cluster.ca_pem)
    policy = TrustPolicy.untrusted(allowed_dirs=[kube], allowed_servers={cluster.server: kube / "lab-ca.pem"})
    async with Clusters(trust=policy) as clusters, Attacker.listening(tls=True) as evil:
        user = {"tokenFile": str(kube / "token")}
        k = await clusters.register_by_string(hostile_kubeconfig(cluster.server, user), cluster_id="no-ca")
        assert len((await CoreV1Api(k.api_client).list_namespaced_pod("demo")).items) == 3
        # a CA in the kubeconfig gives way to the operator's (an attacker's CA would not matter)
        text = hostile_kubeconfig(cluster.server, user, evil.ca_data)
        with pytest.raises(KubeconfigRefused, match="certificate-authority"):
            await clusters.register_by_string(
                text,
                cluster_id="own-ca",
                trust=TrustPolicy.untrusted(allowed_dirs=[kube], allowed_servers=[cluster.server]),
            )
        k = await clusters.register_by_string(text, cluster_id="own-ca")
        assert len((await CoreV1Api(k.api_client).list_namespaced_pod("demo")).items) == 3


async def test_an_allowed_eks_server_needs_the_operators_ca_too(lab_aws: EKSLab, tmp_path: Path) -> None:
    """The host's AWS identity is a host credential: an allowed EKS server skips DescribeCluster,
    so its CA must be the operator's; unlisted, DescribeCluster confirms it and gives EKS's CA."""
    cluster = lab_aws.cluster("lab")
    text = lab_aws.kubeconfig("lab", env={"AWS_REGION": cluster.region})  # carries the CA
    (tmp_path / "ca.pem").write_text(cluster.ca_pem)
    async with Clusters(trust=TrustPolicy.untrusted(allowed_servers=[cluster.server])) as clusters:
        with pytest.raises(KubeconfigRefused, match="this host's AWS identity"):
            await clusters.register_by_string(text)
    for policy in (
        TrustPolicy.untrusted(allowed_servers={cluster.server: tmp_path / "ca.pem"}),
        TrustPolicy.untrusted(),  # confirmed by DescribeCluster
    ):
        async with Clusters(trust=policy) as clusters:
            k = await clusters.register_by_string(text)
            assert len((await CoreV1Api(k.api_client).list_namespaced_pod("demo")).items) == 3


async def test_an_operator_ca_file_that_is_not_a_pem_certificate_is_refused_when_the_policy_is_made(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    for ca in (tmp_path / "bad.pem", tmp_path / "missing.pem", "/dev/zero"):
        with pytest.raises(InvalidArgument, match="CA file"):
            TrustPolicy.untrusted(allowed_servers={"https://k8s.corp.example:6443": ca})
