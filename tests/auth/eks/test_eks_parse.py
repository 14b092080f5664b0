"""Reading an EKS kubeconfig: which cluster, region, profile and role it asks for."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kom_async.auth.eks.native import native_unsupported_reason
from kom_async.eks import (
    EKSAuthConfig,
    ExecConfig,
    eks_config_from_exec,
    is_eks_config,
    parse_eks_config,
    region_from_server,
)
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, KubeconfigError

ROLE_R = "arn:aws:iam::1:role/r"
DESIGN_EXAMPLE = textwrap.dedent(
    """\
    apiVersion: v1
    kind: Config
    clusters:
    - cluster:
        server: https://ABCDEF0123456789.gr7.us-east-1.eks.amazonaws.com
      name: my-cluster
    contexts:
    - context:
        cluster: my-cluster
        user: my-eks-user
      name: my-context
    current-context: my-context
    users:
    - name: my-eks-user
      user:
        exec:
          apiVersion: client.authentication.k8s.io/v1beta1
          command: aws
          args:
          - eks
          - get-token
          - --cluster-name
          - my-cluster
          - --region
          - us-east-1
          env:
          - name: AWS_PROFILE
            value: default
    """
)


def kubeconfig(
    command: str,
    args: list[str],
    env: dict[str, str] | None = None,
    server: str = "https://ABC.yl4.eu-west-1.eks.amazonaws.com",
) -> str:
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": args}}
    if env:
        user["exec"]["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "ctx",
        }
    )


def test_the_design_example_parses_to_cluster_region_and_profile() -> None:
    config = parse_eks_config(DESIGN_EXAMPLE)
    assert (config.cluster_name, config.region, config.profile) == ("my-cluster", "us-east-1", "default")
    assert config.role_arn is None
    assert config.profile_from_env is True
    assert isinstance(config.exec_config, ExecConfig)
    assert config.exec_config.command == "aws"
    assert is_eks_config(DESIGN_EXAMPLE)
    assert is_eks_config(DESIGN_EXAMPLE.encode())
    assert native_unsupported_reason(config) is None


def test_bytes_and_an_explicit_context_are_accepted() -> None:
    assert parse_eks_config(DESIGN_EXAMPLE.encode(), context="my-context").cluster_name == "my-cluster"


@pytest.mark.parametrize(
    ("args", "cluster", "role", "region"),
    [
        (["token", "-i", "alpha"], "alpha", None, None),
        (
            ["token", "--cluster-id", "beta", "-r", "arn:aws:iam::1:role/r"],
            "beta",
            "arn:aws:iam::1:role/r",
            None,
        ),
        (
            ["token", "--cluster-id=gamma", "--role", "arn:aws:iam::1:role/x", "--region", "eu-west-1"],
            "gamma",
            "arn:aws:iam::1:role/x",
            "eu-west-1",
        ),
    ],
)
def test_aws_iam_authenticator_forms_are_understood(
    args: list[str], cluster: str, role: str | None, region: str | None
) -> None:
    config = parse_eks_config(kubeconfig("aws-iam-authenticator", args))
    assert (config.cluster_name, config.role_arn, config.region) == (cluster, role, region)
    assert native_unsupported_reason(config) is None


def test_authenticator_external_id_is_kept() -> None:
    config = parse_eks_config(
        kubeconfig("/usr/local/bin/aws-iam-authenticator", ["token", "-i", "c", "--external-id", "xid"])
    )
    assert config.external_id == "xid"


def test_aws_cli_flags_cluster_id_role_and_profile() -> None:
    config = parse_eks_config(
        kubeconfig(
            "aws",
            [
                "--region",
                "eu-west-1",
                "eks",
                "get-token",
                "--cluster-id",
                "0123-id",
                "--role-arn",
                "arn:aws:iam::1:role/admin",
                "--profile=ops",
                "--output",
                "json",
            ],
        )
    )
    assert config.cluster_name == "0123-id"
    assert config.cluster_id_flag is True
    assert config.k8s_aws_id == "0123-id"
    assert config.role_arn == "arn:aws:iam::1:role/admin"
    assert (config.profile, config.profile_from_env) == ("ops", False)
    assert config.region == "eu-west-1"
    assert native_unsupported_reason(config) is None


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-2"}, "eu-west-1"),
        ({}, None),
    ],
)
def test_region_comes_from_the_exec_env_when_not_an_argument(env: dict[str, str], region: str | None) -> None:
    config = parse_eks_config(kubeconfig("aws", ["eks", "get-token", "--cluster-name", "c"], env))
    assert config.region == region
    assert config.env == env


def test_the_region_argument_wins_over_the_env() -> None:
    config = parse_eks_config(
        kubeconfig(
            "aws",
            ["eks", "get-token", "--cluster-name", "c", "--region", "eu-west-1"],
            {"AWS_REGION": "us-east-2"},
        )
    )
    assert config.region == "eu-west-1"


def test_a_region_disagreeing_with_the_server_host_is_a_region_mismatch() -> None:
    with pytest.raises(EKSAuthError) as info:
        parse_eks_config(
            kubeconfig("aws", ["eks", "get-token", "--cluster-name", "c", "--region", "us-east-1"])
        )
    assert info.value.kind is EKSAuthErrorKind.RegionMismatch
    assert "eu-west-1" in str(info.value)


def test_eks_config_from_exec_checks_the_server_region() -> None:
    exec_config = ExecConfig(
        command="aws", args=("eks", "get-token", "--cluster-name", "c"), env={"AWS_REGION": "ap-south-1"}
    )
    assert eks_config_from_exec(exec_config).region == "ap-south-1"
    with pytest.raises(EKSAuthError) as info:
        eks_config_from_exec(exec_config, "https://X.sk1.us-west-2.eks.amazonaws.com")
    assert info.value.kind == "RegionMismatch"
    assert eks_config_from_exec(exec_config, "https://127.0.0.1:6443").server_region is None


def test_region_from_server_recognises_eks_hosts_only() -> None:
    assert region_from_server("https://A1.gr7.us-east-1.eks.amazonaws.com") == "us-east-1"
    assert region_from_server("https://A1.yl4.cn-north-1.eks.amazonaws.com.cn") == "cn-north-1"
    assert region_from_server("https://A1.sk1.us-gov-west-1.eks.amazonaws.com") == "us-gov-west-1"
    assert region_from_server("https://kubernetes.example.com") is None
    assert region_from_server(None) is None


def test_a_kubeconfig_without_an_eks_user_is_refused_as_invalid() -> None:
    static = yaml.safe_load(kubeconfig("aws", []))
    static["users"][0]["user"] = {"token": "abc"}
    with pytest.raises(EKSAuthError) as info:
        parse_eks_config(yaml.safe_dump(static))
    assert info.value.kind is EKSAuthErrorKind.InvalidKubeconfig
    assert "abc" not in str(info.value)
    other = kubeconfig("gke-gcloud-auth-plugin", [])
    with pytest.raises(EKSAuthError) as info:
        parse_eks_config(other)
    assert info.value.kind is EKSAuthErrorKind.InvalidKubeconfig
    assert not is_eks_config(other)


def test_get_token_without_a_cluster_name_is_invalid() -> None:
    with pytest.raises(EKSAuthError) as info:
        parse_eks_config(kubeconfig("aws", ["eks", "get-token", "--region", "eu-west-1"]))
    assert info.value.kind is EKSAuthErrorKind.InvalidKubeconfig


def test_a_malformed_kubeconfig_raises_kubeconfig_error() -> None:
    with pytest.raises(KubeconfigError):
        parse_eks_config("clusters: [unterminated")


@pytest.mark.parametrize("junk", ["", "   ", "not: [yaml", "- a\n- b", "42", b"\x00\xff", "clusters: 3"])
def test_junk_is_not_eks(junk: str | bytes) -> None:
    assert is_eks_config(junk) is False


def test_non_text_is_not_eks() -> None:
    assert is_eks_config(None) is False
    assert is_eks_config(42) is False


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_is_eks_config_never_raises(text: str | bytes) -> None:
    assert is_eks_config(text) in (True, False)


def test_unknown_arguments_and_env_fall_back_to_exec_with_a_reason() -> None:
    config = parse_eks_config(
        kubeconfig("aws-iam-authenticator", ["token", "-i", "c", "--session-name", "me"])
    )
    reason = native_unsupported_reason(config)
    assert reason is not None and "--session-name" in reason
    config = parse_eks_config(
        kubeconfig(
            "aws",
            ["eks", "get-token", "--cluster-name", "c"],
            {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "HOME": "/elsewhere"},
        )
    )
    reason = native_unsupported_reason(config)
    assert reason is not None and "AWS_WEB_IDENTITY_TOKEN_FILE" in reason and "HOME" in reason


def test_settings_the_native_source_layers_are_supported() -> None:
    env = {
        "AWS_PROFILE": "p",
        "AWS_ACCESS_KEY_ID": "AKIA0000",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_SESSION_TOKEN": "tok",
        "AWS_ENDPOINT_URL_STS": "https://sts.example",
        "AWS_ENDPOINT_URL": "https://aws.example",
        "AWS_CONFIG_FILE": "/tmp/c",
        "AWS_SHARED_CREDENTIALS_FILE": "/tmp/k",
        "AWS_STS_REGIONAL_ENDPOINTS": "regional",
        "AWS_REGION": "eu-west-1",
    }
    config = parse_eks_config(kubeconfig("aws", ["eks", "get-token", "--cluster-name", "c"], env))
    assert native_unsupported_reason(config) is None


def test_secrets_in_the_exec_env_never_show_in_reprs() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIA0000", "AWS_SECRET_ACCESS_KEY": "VERY-SECRET-VALUE"}
    config = parse_eks_config(kubeconfig("aws", ["eks", "get-token", "--cluster-name", "c"], env))
    assert "VERY-SECRET-VALUE" not in repr(config)
    assert "VERY-SECRET-VALUE" not in str(config)


def test_eks_auth_config_is_a_frozen_value() -> None:
    config = EKSAuthConfig(cluster_name="c", region="us-east-1")
    with pytest.raises(AttributeError):
        config.region = "eu-west-1"  # type: ignore[misc]
    assert config == EKSAuthConfig(cluster_name="c", region="us-east-1")
