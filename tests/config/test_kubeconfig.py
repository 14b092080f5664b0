"""Kubeconfig loading: every auth kind, file references, and clear errors for bad input."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.errors import KubeconfigError


def config(user: dict[str, Any], cluster: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "contexts": [{"name": "ctx", "context": {"cluster": "k", "user": "u", "namespace": "team"}}],
        "clusters": [{"name": "k", "cluster": cluster or {"server": "https://127.0.0.1:6443/"}}],
        "users": [{"name": "u", "user": user}],
    }
    doc.update(top)
    return doc


def test_a_static_token_user_from_yaml_text() -> None:
    sel = load_kubeconfig(yaml.safe_dump(config({"token": "abc"})))
    assert sel.context_name == "ctx" and sel.namespace == "team"
    assert sel.server == "https://127.0.0.1:6443"
    assert sel.auth.kind == "token" and sel.auth.token == "abc"
    assert "abc" not in repr(sel)


def test_eks_exec_users_are_classified_as_eks() -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                     "args": ["--region", "us-east-1", "eks", "get-token", "--cluster-name", "c1"]}}
    assert load_kubeconfig(config(user)).auth.kind == "eks-exec"
    user2 = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never", "command": "/usr/local/bin/aws-iam-authenticator",
                      "args": ["token", "-i", "c1"]}}
    assert load_kubeconfig(config(user2)).auth.kind == "eks-exec"
    other = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never", "command": "gke-gcloud-auth-plugin"}}
    assert load_kubeconfig(config(other)).auth.kind == "exec"


def test_exec_env_is_parsed_but_never_shown_in_reprs() -> None:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": ["eks", "get-token"],
                     "env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI/K7MDENG"}]}}
    sel = load_kubeconfig(config(user))
    assert sel.auth.exec is not None and sel.auth.exec.env["AWS_SECRET_ACCESS_KEY"].startswith("wJal")
    assert "wJal" not in repr(sel) and "AWS_SECRET_ACCESS_KEY" in repr(sel.auth.exec)


def test_files_referenced_by_a_kubeconfig_path_resolve_beside_it(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("client")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "client.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    (tmp_path / "token").write_text("from-file\n")
    doc = config({"client-certificate": "client.crt", "client-key": "client.key"},
                 {"server": "https://x", "certificate-authority": "ca.pem", "tls-server-name": "api",
                  "proxy-url": "http://proxy:3128"})
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    sel = load_kubeconfig(path)
    assert sel.ca_data == ca.cert_pem.bytes()
    assert sel.auth.kind == "client-cert" and sel.auth.client_key_data
    assert sel.tls_server_name == "api" and sel.proxy_url == "http://proxy:3128"
    doc["users"][0]["user"] = {"tokenFile": "token"}
    path.write_text(yaml.safe_dump(doc))
    assert load_kubeconfig(path).auth.kind == "token-file"


def test_a_named_context_and_basic_auth() -> None:
    doc = config({"username": "admin", "password": "pw"})
    doc["contexts"].append({"name": "other", "context": {"cluster": "k", "user": "u"}})
    sel = load_kubeconfig(doc, context="other")
    assert sel.context_name == "other" and sel.auth.kind == "basic" and "pw" not in repr(sel)


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("", "empty"),
        ("::: not: [yaml", "not valid YAML"),
        ("- a\n- b\n", "must be a YAML mapping"),
        (yaml.safe_dump(config({}, **{"current-context": "missing"})), "'missing' is not defined"),
        (yaml.safe_dump({**config({}), "current-context": None, "contexts": []}), "no current-context"),
        (yaml.safe_dump({**config({}), "clusters": []}), "clusters"),
        (yaml.safe_dump({**config({}), "users": "nope"}), "users"),
        (yaml.safe_dump(config({}, {"server": "ftp://x"})), "http(s) URL"),
        (yaml.safe_dump(config({}, {"insecure-skip-tls-verify": True})), "server"),
        (yaml.safe_dump(config({}, {"server": "https://x", "certificate-authority-data": "!!!"})), "not valid base64"),
        (yaml.safe_dump(config({}, {"server": "https://x", "certificate-authority-data": base64.b64encode(b"junk").decode()})), "PEM"),
        (yaml.safe_dump(config({}, {"server": "https://x", "certificate-authority": "/no/such/ca.pem"})), "certificate-authority"),
        (yaml.safe_dump(config({"tokenFile": "/no/such/token"})), "tokenFile"),
        (yaml.safe_dump(config({"client-certificate-data": "QQ=="})), "client-key"),
        (yaml.safe_dump(config({"exec": {"args": ["x"]}})), "needs a command"),
        (yaml.safe_dump(config({"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"}})), "not supported"),
        (yaml.safe_dump(config({"exec": {"command": "x", "apiVersion": "client.authentication.k8s.io/v1beta1", "env": [{"value": "v"}]}})), "env[0]"),
        (yaml.safe_dump(config({"auth-provider": {"name": "gcp"}})), "auth-provider"),
    ],
)
def test_malformed_kubeconfigs_raise_kubeconfig_error_naming_the_problem(source: str, needle: str) -> None:
    with pytest.raises(KubeconfigError) as info:
        load_kubeconfig(source)
    assert needle in str(info.value)


def test_an_unreadable_path_is_a_kubeconfig_error(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="cannot read kubeconfig"):
        load_kubeconfig(tmp_path / "nope")


def test_a_path_with_a_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "kc").write_text(yaml.safe_dump(config({"token": "abc"})))
    assert load_kubeconfig(Path("~/kc")).auth.kind == "token"
