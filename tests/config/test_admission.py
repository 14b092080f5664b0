"""Admission decides, in one call and before any I/O, everything a registration may do: which
plugin may run, which server gets which credentials over which CA, whether DescribeCluster must
confirm an EKS server first, the cluster id; and it says why. The attacker is a TLS listener on
127.0.0.1 that counts every connection; a plugin that would leave a mark shows it never ran."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from attacker import Attacker, hostile_kubeconfig

from kom_async.config.admission import admit, admit_eks_by_name
from kom_async.config.eks import EKSAuthConfig
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.policy import TRUSTED, UNTRUSTED, ExecPolicy, TrustPolicy
from kom_async.errors import (
    EKSAuthError,
    EKSAuthErrorKind,
    ExecNotAllowed,
    InvalidArgument,
    KubeconfigRefused,
)


def _eks_user(region: str = "us-east-1", cluster: str = "lab") -> dict[str, Any]:
    args = ["--region", region, "eks", "get-token", "--cluster-name", cluster, "--output", "json"]
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": args}}


async def test_an_untrusted_eks_server_is_admitted_only_once_describe_cluster_reports_it() -> None:
    async with Attacker.listening(tls=True) as evil:
        selection = load_kubeconfig(hostile_kubeconfig(evil.url, _eks_user(), evil.ca_data))
        admission = admit(selection, cluster_id=None, trust=UNTRUSTED, exec_policy=None)
        assert admission.eks is not None and admission.eks.cluster_name == "lab"
        assert admission.confirm_server and admission.needs_describe
        assert any("DescribeCluster" in reason for reason in admission.reasons)
        # EKS reports another endpoint: no token goes to the kubeconfig's server
        with pytest.raises(KubeconfigRefused, match="eks:DescribeCluster"):
            admission.described("https://abc.gr7.us-east-1.eks.amazonaws.com", b"EKS CA")
        # EKS reports this one: it is talked to with EKS's CA, not the kubeconfig's
        confirmed = admission.described(evil.url + "/", b"EKS CA")
        assert confirmed.server == selection.server and confirmed.ca_data == b"EKS CA"
        evil.assert_received_nothing("k8s-aws-v1.")


async def test_admission_runs_no_plugin_and_reaches_no_server(tmp_path: Path) -> None:
    mark = tmp_path / "plugin-ran"
    plugin = tmp_path / "plugin.py"
    plugin.write_text(f"open({str(mark)!r}, 'w').close()\n")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
        }
    }
    async with Attacker.listening(tls=True) as evil:
        selection = load_kubeconfig(hostile_kubeconfig(evil.url, user, evil.ca_data))
        admission = admit(selection, cluster_id="mine", trust=TRUSTED, exec_policy=None)
        assert admission.cluster_id == "mine" and not admission.needs_describe
        assert any("exec plugin" in reason for reason in admission.reasons)
        with pytest.raises(ExecNotAllowed):  # the operator's exec policy is admission's too
            admit(selection, cluster_id="mine", trust=TRUSTED, exec_policy=ExecPolicy())
        evil.assert_received_nothing()
    assert not mark.exists()


def test_the_cluster_id_is_checked_before_the_eks_user_is_read() -> None:
    # the user signs for eu-west-1 but the server is in us-east-1: RegionMismatch, once read
    server = "https://abc.gr7.us-east-1.eks.amazonaws.com"
    selection = load_kubeconfig(hostile_kubeconfig(server, _eks_user(region="eu-west-1")))
    with pytest.raises(InvalidArgument, match="control character"):
        admit(selection, cluster_id="a\nINFO forged", trust=TRUSTED, exec_policy=None)
    with pytest.raises(EKSAuthError) as info:
        admit(selection, cluster_id="fine", trust=TRUSTED, exec_policy=None)
    assert info.value.kind is EKSAuthErrorKind.RegionMismatch


def test_an_eks_registration_refuses_another_kubeconfig_in_words_of_its_own() -> None:
    selection = load_kubeconfig(hostile_kubeconfig("https://127.0.0.1:6443", {"token": "t0k3n"}))
    with pytest.raises(EKSAuthError) as info:
        admit(selection, cluster_id=None, trust=TRUSTED, exec_policy=None, require_eks=True)
    assert info.value.kind is EKSAuthErrorKind.InvalidKubeconfig
    message = str(info.value)
    assert "does not authenticate with EKS" in message and "register" in message
    assert "register_by_string" not in message  # no caller has to rewrite it for its users


def test_an_allowed_eks_server_needs_no_describe_cluster_and_says_so() -> None:
    server = "https://abc.gr7.us-east-1.eks.amazonaws.com"
    selection = load_kubeconfig(hostile_kubeconfig(server, _eks_user()))
    trust = TrustPolicy.untrusted(allowed_servers=[server])
    admission = admit(selection, cluster_id=None, trust=trust, exec_policy=None)
    assert not admission.confirm_server and not admission.needs_describe
    assert any("the operator allowed" in reason for reason in admission.reasons)
    trusted = admit(selection, cluster_id=None, trust=TRUSTED, exec_policy=None)
    assert not trusted.confirm_server and trusted.trusted


def test_register_eks_by_name_is_admitted_with_its_default_id_and_only_allowed_env() -> None:
    config = EKSAuthConfig("orders", "eu-west-1", env={"AWS_PROFILE": "prod"})
    admission = admit_eks_by_name(config, cluster_id=None, trust=UNTRUSTED)
    assert admission.cluster_id == "eu-west-1-orders"
    assert admission.selection is None and admission.needs_describe
    endpoint = admission.described("https://abc.gr7.eu-west-1.eks.amazonaws.com/", b"CA")
    assert endpoint.server == "https://abc.gr7.eu-west-1.eks.amazonaws.com"
    assert endpoint.ca_data == b"CA" and endpoint.auth.kind == "eks-exec"
    hostile = EKSAuthConfig("orders", "eu-west-1", env={"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:1"})
    with pytest.raises(KubeconfigRefused, match="AWS_ENDPOINT_URL_STS"):
        admit_eks_by_name(hostile, cluster_id=None, trust=UNTRUSTED)
    with pytest.raises(InvalidArgument, match="region"):
        admit_eks_by_name(EKSAuthConfig("orders", ""), cluster_id=None, trust=TRUSTED)
