"""Secrets stay secret: on the real ``kom-async mcp`` (stdio and HTTP), the tools that return
objects show a Secret's keys and the size of each value, never the value, unless the operator
started the server with ``--show-secrets``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client
from mcp_helpers import call_ok, client_over, held, stdio_client, text_of

from kom_async.clusters import Clusters
from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "s3cr3t-hunter2-0123456789"  # 25 bytes
TOKEN = "tok-" + "x" * 40  # 44 bytes
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vault(lab: EKSLab) -> LabCluster:
    """A lab cluster holding Secret demo/db (as kubectl apply leaves it: data + last-applied)."""
    target = await lab.create_cluster("vault")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "demo"},
        "type": "Opaque",
        "data": {"password": base64.b64encode(PASSWORD.encode()).decode()},
        "stringData": {"token": TOKEN},
    }
    applied = dict(secret, metadata=dict(secret["metadata"], annotations={LAST_APPLIED: json.dumps(secret)}))
    async with Clusters() as clusters:
        kubectl = await clusters.register_by_string(lab.kubeconfig(target.name, static_token=True))
        await kubectl.resource("secrets").namespace("demo").create(applied)
    return target


@pytest.fixture(scope="module")
def vault_file(lab: EKSLab, vault: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vault") / "vault.yaml"
    path.write_text(lab.kubeconfig(vault.name, static_token=True, context="vault"))
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["stdio", "http"])
async def client(request: pytest.FixtureRequest, lab: EKSLab, vault_file: Path) -> AsyncIterator[Client]:
    """A read-only server (the issue's setting) with the vault cluster preloaded."""
    args = ("--kubeconfig", str(vault_file), "--read-only", "--read-only-registry")
    async for c in held(lambda: client_over(request.param, lab, *args)):
        yield c


def assert_hidden(text: str) -> None:
    """No value in any form; the sizes are there instead."""
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    for value in (PASSWORD, encoded, TOKEN, "hunter2"):
        assert value not in text, text
    assert "<redacted: 25 bytes>" in text, text


READS = [
    ("get_k8s_resource", {"kind": "secrets", "name": "db", "namespace": "demo"}),
    ("get_k8s_resource", {"kind": "Secret", "name": "db", "namespace": "demo", "version": "v1"}),
    ("describe_k8s_resource", {"kind": "secret", "name": "db", "namespace": "demo"}),
    ("list_k8s_resource", {"kind": "secrets", "namespace": "demo"}),
    ("list_k8s_resource", {"kind": "Secret", "version": "v1"}),
]


@pytest.mark.parametrize(("tool", "arguments"), READS, ids=[f"{t}-{a['kind']}" for t, a in READS])
async def test_read_tools_show_a_secrets_keys_and_sizes_never_its_values(
    client: Client, tool: str, arguments: dict[str, str]
) -> None:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    text = text_of(result)
    assert_hidden(text)
    assert '"password"' in text  # the keys are kept


async def test_the_last_applied_annotation_of_a_secret_is_hidden_too(lab: EKSLab, vault: LabCluster) -> None:
    from kom_async.mcp.output import compact, hide_secrets

    async with Clusters() as clusters:
        kubectl = await clusters.register_by_string(lab.kubeconfig(vault.name, static_token=True))
        stored = await kubectl.resource("secrets").namespace("demo").name("db").get()
    assert LAST_APPLIED in stored["metadata"]["annotations"]  # the lab keeps what kubectl apply sent
    shown = hide_secrets(stored)
    assert shown["metadata"]["annotations"][LAST_APPLIED].startswith("<redacted: ")
    assert_hidden(compact(shown))


async def test_the_tool_docs_say_secret_values_are_hidden(client: Client) -> None:
    tools = {t.name: t.description or "" for t in (await client.list_tools()).tools}
    for name in ("get_k8s_resource", "list_k8s_resource", "describe_k8s_resource", "patch_k8s_resource"):
        assert "--show-secrets" in tools[name], name


async def test_a_patch_answer_hides_the_secret_too(lab: EKSLab, vault_file: Path) -> None:
    async with stdio_client(lab, "--kubeconfig", str(vault_file)) as writer:
        patched = await writer.call_tool(
            "patch_k8s_resource",
            {
                "kind": "secrets",
                "name": "db",
                "namespace": "demo",
                "patch": {"metadata": {"labels": {"a": "b"}}},
            },
        )
        assert not patched.is_error, text_of(patched)
        assert_hidden(text_of(patched))


async def test_show_secrets_shows_them(lab: EKSLab, vault_file: Path) -> None:
    async with client_over("http", lab, "--kubeconfig", str(vault_file), "--show-secrets") as trusting:
        shown = await call_ok(trusting, "get_k8s_resource", kind="secrets", name="db", namespace="demo")
        assert base64.b64decode(shown["data"]["password"]).decode() == PASSWORD


async def test_a_list_item_without_kind_is_hidden_by_the_kind_its_list_resolved_to() -> None:
    # a real API server's list items carry no kind: the list tools pass the resolved kind along
    from kom_async.mcp.output import compact, hide_secrets

    item = {"metadata": {"name": "db"}, "data": {"password": base64.b64encode(PASSWORD.encode()).decode()}}
    assert_hidden(compact(hide_secrets(item, "Secret")))
    assert hide_secrets(item, "ConfigMap") is item
