"""No secret in any output, at DEBUG: a password in the server URL, Secret bodies that
kubernetes_asyncio logs, Authorization headers, and cluster ids that forge log lines.

Before: ``https://user:password@host`` showed the password in the registration log, in
``repr(Cluster)`` and in ``clusters check --json`` (and every request failed with a raw
``ValueError``); kubernetes_asyncio's REST logger printed whole Secrets; ``cluster_id`` took
newlines.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api
from leakcheck import detector, exception_texts

from kom_async import Clusters
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.errors import ClusterUnreachable, InvalidArgument, KubeconfigError
from kom_async.lab import EKSLab
from kom_async.transport.restlog import LOGGERS

PASSWORD = "url-password-5f1e9c"
SECRET_VALUE = "secret-data-value-8d2b41"


def with_userinfo(kubeconfig: str) -> str:
    return kubeconfig.replace("server: https://", f"server: https://admin:{PASSWORD}@")


def all_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


@pytest.fixture(autouse=True)
def _debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    detector.learn(PASSWORD)
    detector.learn(SECRET_VALUE)
    caplog.set_level(logging.DEBUG)


async def test_a_password_in_the_server_url_is_never_shown_and_requests_work(
    lab: EKSLab, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    await lab.create_cluster("ui")
    text = with_userinfo(lab.kubeconfig("ui", static_token=True))
    async with Clusters() as clusters:
        k = await clusters.register_by_string(text, cluster_id="ui")
        cluster = clusters.get("ui")
        namespaces = await k.resource("namespaces").list()  # the token still authenticates
        assert "demo" in {n["metadata"]["name"] for n in namespaces}
        shown = [repr(cluster), str(cluster.server), repr(clusters), repr(load_kubeconfig(text))]
        shown.append(cluster.api_client.configuration.host)
    assert any("cluster ui registered (server https://127.0.0.1" in r.getMessage() for r in caplog.records)
    origin = lab.clusters[0].server.split("/clusters")[0]
    closed = with_userinfo(lab.kubeconfig("ui", static_token=True).replace(origin, "https://127.0.0.1:9"))
    assert f"{PASSWORD}@127.0.0.1:9/" in closed
    async with Clusters() as clusters:
        k = await clusters.register_by_string(closed, cluster_id="closed")
        with pytest.raises(ClusterUnreachable) as unreachable:
            await k.resource("namespaces").list()
    with pytest.raises(KubeconfigError) as malformed:
        load_kubeconfig(text.replace("@127.0.0.1", "@[::1"))
    assert "is not an API server URL" in str(malformed.value)
    shown += exception_texts(unreachable.value) + exception_texts(malformed.value)

    path = tmp_path / "ui.yaml"
    path.write_text(text)
    proc = await asyncio_run_cli("clusters", "check", "--kubeconfig", str(path), "--json", "-v")
    code, out, err = proc
    assert code == 0, err
    assert json.loads(out)["clusters"][0]["server"].startswith("https://127.0.0.1:")
    shown += [out, err, all_text(caplog)]
    for text_shown in shown:
        assert PASSWORD not in text_shown, text_shown[:300]


def test_credentials_only_in_the_url_become_basic_auth_like_kubectl() -> None:
    doc = (
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: c, user: c}}]\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://me:{PASSWORD}@k8s.example:6443/x'}}}}]\n"
        "users: [{name: c, user: {}}]\n"
    )
    selection = load_kubeconfig(doc)
    assert selection.server == "https://k8s.example:6443/x"
    assert (selection.auth.kind, selection.auth.username, selection.auth.password) == ("basic", "me", PASSWORD)
    assert PASSWORD not in repr(selection)


async def asyncio_run_cli(*argv: str) -> tuple[int, str, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kom_async.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_kubernetes_asyncio_debug_logs_show_no_secret_data_nor_auth_headers(
    lab: EKSLab, caplog: pytest.LogCaptureFixture
) -> None:
    await lab.create_cluster("bodies")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(lab.kubeconfig("bodies", static_token=True), cluster_id="b")
        v1 = CoreV1Api(k.api_client)  # its generated methods preload and log every body
        encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
        await v1.create_namespaced_secret("demo", {"metadata": {"name": "s1"}, "data": {"pw": encoded}})
        await v1.create_namespaced_secret(
            "demo",
            {
                "metadata": {
                    "name": "s2",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": SECRET_VALUE},
                },
                "stringData": {"pw": SECRET_VALUE},
            },
        )
        await v1.read_namespaced_secret("s1", "demo")
        await v1.list_namespaced_secret("demo")
        await v1.create_namespaced_config_map("demo", {"metadata": {"name": "plain"}, "data": {"k": "visible"}})
        token = lab.static_token("bodies")
    bodies = [r.getMessage() for r in caplog.records if r.name == "kubernetes_asyncio.client.rest"]
    assert len(bodies) >= 5, "kubernetes_asyncio no longer logs bodies: this test proves nothing"
    assert any('"visible"' in b for b in bodies)  # other bodies are still there for debugging
    assert any('"kind":"Secret"' in b and "<redacted>" in b for b in bodies)
    text = all_text(caplog)
    for secret in (SECRET_VALUE, encoded, token):
        assert secret not in text
    # an Authorization header or a bearer credential in anything these loggers print
    for name in LOGGERS:
        logging.getLogger(name).debug("headers: %s", {"Authorization": f"Bearer {token}"})
        logging.getLogger(name).error("Authorization: Basic dXNlcjpwYXNzd29yZA==")
    assert token not in all_text(caplog) and "dXNlcjpwYXNzd29yZA==" not in all_text(caplog)


@pytest.mark.parametrize("bad", ["a\nb", "forged\n2026-01-01 INFO cluster prod registered", "tab\there", "\x1b[31m", "x" * 254, " "])
async def test_a_cluster_id_that_could_forge_log_lines_is_refused(lab: EKSLab, bad: str) -> None:
    await lab.create_cluster("ids")
    text = lab.kubeconfig("ids", static_token=True)
    async with Clusters() as clusters:
        with pytest.raises(InvalidArgument, match="cluster_id"):
            await clusters.register_by_string(text, cluster_id=bad)
        doc = yaml.safe_load(text)  # no cluster_id: the context's name becomes the id
        doc["contexts"][0]["name"] = doc["current-context"] = bad
        with pytest.raises((InvalidArgument, KubeconfigError)):
            await clusters.register_by_string(doc)
        assert len(clusters) == 0
