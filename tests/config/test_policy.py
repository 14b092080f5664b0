"""Every rule of ``config/policy.py``, one test each, on the policy objects themselves (the
end-to-end suites play the attacker against the lab; these pin each rule to its own
sentence): ``ExecPolicy`` (which plugins run) and ``TrustPolicy`` (what an untrusted
kubeconfig may do), plus the constructors and ``trust_policy``."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import trustme

from kom_async.config.kubeconfig import ExecConfig, KubeconfigSelection, UserAuth
from kom_async.config.policy import (
    DEFAULT_ALLOWED_COMMANDS,
    SAFE_EXEC_ENV,
    TRUSTED,
    UNTRUSTED,
    ExecPolicy,
    TrustPolicy,
    normalize_server,
    trust_policy,
)
from kom_async.config.readfile import PEM_MAX
from kom_async.errors import ExecNotAllowed, InvalidArgument, KubeconfigRefused

SERVER = "https://api.example.test:6443"
EKS_ARGS = ("eks", "get-token", "--cluster-name", "c1", "--region", "us-east-1")


def exec_config(command: str = "aws", *args: str, env: dict[str, str] | None = None) -> ExecConfig:
    return ExecConfig(command=command, args=args or EKS_ARGS, env=env or {})


def selection(server: str = SERVER, auth: UserAuth | None = None, **fields: Any) -> KubeconfigSelection:
    """One context as the loader would give it: a static token (the kubeconfig's own) by default."""
    base = KubeconfigSelection(
        context_name="ctx",
        cluster_name="k",
        user_name="u",
        server=server,
        namespace=None,
        ca_data=None,
        insecure_skip_tls_verify=False,
        tls_server_name=None,
        proxy_url=None,
        auth=auth or UserAuth(kind="token", token="own-token"),
    )
    return dataclasses.replace(base, **fields)


def exec_auth(config: ExecConfig | None = None) -> UserAuth:
    return UserAuth(kind="exec", exec=config or exec_config("my-plugin", "token"))


def pem_ca(tmp_path: Path, name: str = "ca.pem") -> tuple[Path, bytes]:
    data = bytes(trustme.CA().cert_pem.bytes())
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


# ---- ExecPolicy --------------------------------------------------------------------------------


def test_exec_deny_all_refuses_even_an_allowed_command() -> None:
    with pytest.raises(ExecNotAllowed, match="exec credential plugins are disabled"):
        ExecPolicy(deny_all=True).check(exec_config())


def test_exec_a_command_off_the_allowlist_is_refused_and_the_message_lists_the_allowed() -> None:
    with pytest.raises(
        ExecNotAllowed, match=r"only these commands may run.*aws, aws-iam-authenticator, kom-async"
    ):
        ExecPolicy().check(exec_config("gcloud", "config", "config-helper"))
    with pytest.raises(ExecNotAllowed, match="may run as credential plugins: none"):
        ExecPolicy(allowed=()).check(exec_config())


def test_exec_an_allowed_name_at_another_path_is_refused() -> None:
    """``/tmp/x/aws`` is not the ``aws`` on PATH: only a bare name, or the very path PATH gives."""
    with pytest.raises(ExecNotAllowed, match="only these commands"):
        ExecPolicy().check(exec_config("/tmp/evil/aws"))
    with pytest.raises(ExecNotAllowed, match="only these commands"):
        ExecPolicy().check(exec_config("./aws"))
    on_path = shutil.which("aws")
    if on_path is not None:
        ExecPolicy().check(exec_config(on_path))


@pytest.mark.parametrize(
    "name",
    ["PATH", "path", "LD_PRELOAD", "DYLD_INSERT_LIBRARIES", "PYTHONPATH", "BASH_ENV", "ENV", "NODE_OPTIONS"],
)
def test_exec_loader_variables_in_the_plugin_env_are_refused(name: str) -> None:
    with pytest.raises(ExecNotAllowed, match=f"its env may not set {name}"):
        ExecPolicy().check(exec_config(env={name: "/tmp/x"}))
    ExecPolicy().check(exec_config(env={"AWS_PROFILE": "dev"}))


@pytest.mark.parametrize(
    ("command", "args", "runs"),
    [
        ("aws", EKS_ARGS, True),
        ("aws", ("s3", "cp", "s3://bucket/x", "/tmp/x"), False),
        ("aws-iam-authenticator", ("token", "-i", "c1"), True),
        ("aws-iam-authenticator", ("server",), False),
        ("kom-async", ("eks", "get-token", "--cluster-name", "c1"), True),
        ("kom-async", ("mcp", "--http"), False),
    ],
)
def test_exec_a_default_command_may_only_mint_a_token(
    command: str, args: tuple[str, ...], runs: bool
) -> None:
    if runs:
        ExecPolicy().check(exec_config(command, *args))
    else:
        with pytest.raises(ExecNotAllowed, match="may only mint a token"):
            ExecPolicy().check(exec_config(command, *args))


def test_exec_a_command_the_operator_allowed_runs_with_any_arguments() -> None:
    ExecPolicy(allowed={"kubelogin"}).check(exec_config("kubelogin", "get-token", "--server-id", "x"))


def test_exec_check_kubeconfig_checks_the_selected_users_plugin_and_passes_without_one() -> None:
    ExecPolicy(deny_all=True).check_kubeconfig(selection())
    with pytest.raises(ExecNotAllowed):
        ExecPolicy(deny_all=True).check_kubeconfig(selection(auth=exec_auth()))


def test_exec_the_default_allowlist_is_the_three_token_minters() -> None:
    assert DEFAULT_ALLOWED_COMMANDS == {"aws", "aws-iam-authenticator", "kom-async"}
    assert "deny_all=False" in repr(ExecPolicy())


# ---- TrustPolicy: what an untrusted kubeconfig may not do ---------------------------------------


def test_trust_trusted_allows_everything_kubectl_would() -> None:
    loose = selection(
        "http://169.254.169.254",
        auth=exec_auth(exec_config("my-plugin", "file:///etc/passwd", env={"AWS_ENDPOINT_URL": "http://x"})),
        insecure_skip_tls_verify=True,
        proxy_url="http://proxy:3128",
        tls_server_name="other",
        ca_data=b"theirs",
    )
    assert TRUSTED.check_selection(loose, eks=False) is loose
    assert TRUSTED.check_selection(loose, eks=True, eks_unsupported=["--endpoint-url"]) is loose
    assert TRUSTED.file_dirs is None and not TRUSTED.needs_eks_check(SERVER)


def test_trust_untrusted_needs_https() -> None:
    with pytest.raises(KubeconfigRefused, match="is not https"):
        UNTRUSTED.check_selection(selection("http://api.example.test:8080"), eks=False)


def test_trust_untrusted_needs_certificate_verification() -> None:
    with pytest.raises(KubeconfigRefused, match="insecure-skip-tls-verify is set"):
        UNTRUSTED.check_selection(selection(insecure_skip_tls_verify=True), eks=False)


def test_trust_untrusted_may_not_use_a_proxy() -> None:
    with pytest.raises(KubeconfigRefused, match="proxy-url is set"):
        UNTRUSTED.check_selection(selection(proxy_url="http://proxy.internal:3128"), eks=False)


@pytest.mark.parametrize(
    "server",
    ["https://169.254.169.254", "https://2852039166", "https://[fe80::1]", "https://[fd00:ec2::254]"],
)
def test_trust_untrusted_may_not_name_a_metadata_or_link_local_server(server: str) -> None:
    with pytest.raises(KubeconfigRefused, match="link-local / cloud metadata address"):
        UNTRUSTED.check_selection(selection(server), eks=False)


def test_trust_untrusted_exec_env_only_from_the_allowed_list() -> None:
    policy = TrustPolicy.untrusted(allowed_servers=[SERVER])
    refused = exec_auth(
        exec_config("aws", *EKS_ARGS, env={"AWS_PROFILE": "p", "AWS_ENDPOINT_URL": "http://x"})
    )
    with pytest.raises(
        KubeconfigRefused, match="sets AWS_ENDPOINT_URL, which an untrusted kubeconfig may not set"
    ):
        policy.check_selection(selection(auth=refused), eks=False)
    allowed = exec_auth(exec_config("aws", *EKS_ARGS, env={"AWS_PROFILE": "p", "AWS_REGION": "eu-west-1"}))
    policy.check_selection(selection(auth=allowed), eks=False)
    narrow = TrustPolicy.untrusted(allowed_servers=[SERVER], allowed_env=[])
    with pytest.raises(KubeconfigRefused, match="sets AWS_PROFILE"):
        narrow.check_selection(selection(auth=allowed), eks=False)
    assert {"AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}.isdisjoint(SAFE_EXEC_ENV)


@pytest.mark.parametrize("arg", ["file:///etc/passwd", "fileb://key", "https://evil.test/name", "HTTP://x"])
def test_trust_untrusted_exec_arguments_may_not_make_the_plugin_read_a_file_or_url(arg: str) -> None:
    auth = exec_auth(exec_config("aws", "eks", "get-token", "--cluster-name", arg))
    with pytest.raises(KubeconfigRefused, match="would make the plugin read a file or URL"):
        TrustPolicy.untrusted(allowed_servers=[SERVER]).check_selection(selection(auth=auth), eks=False)


def test_trust_untrusted_eks_plugin_options_beyond_the_safe_ones_are_refused() -> None:
    auth = UserAuth(kind="eks-exec", exec=exec_config())
    with pytest.raises(KubeconfigRefused, match="uses --endpoint-url; an untrusted kubeconfig may only use"):
        UNTRUSTED.check_selection(selection(auth=auth), eks=True, eks_unsupported=["--endpoint-url"])
    assert UNTRUSTED.check_selection(selection(auth=auth), eks=True).server == SERVER


# ---- TrustPolicy: host credentials only where the operator vouches -------------------------------


@pytest.mark.parametrize(
    ("auth", "source"),
    [
        (exec_auth(), "an exec plugin"),
        (UserAuth(kind="token-file", token_file="/var/run/token"), "a tokenFile"),
        (UserAuth(kind="client-cert", cert_from_file=True), "a client certificate or key file"),
    ],
)
def test_trust_host_credentials_go_only_to_an_allowed_server(auth: UserAuth, source: str) -> None:
    with pytest.raises(KubeconfigRefused, match=f"credentials come from {source} on this host"):
        UNTRUSTED.check_selection(selection(auth=auth), eks=False)
    TrustPolicy.untrusted(allowed_servers=[SERVER]).check_selection(selection(auth=auth), eks=False)


def test_trust_an_eks_server_not_allowed_waits_for_describe_cluster() -> None:
    """For EKS the registry confirms the endpoint with DescribeCluster: the policy lets it through
    and says the check is needed; an allowed server needs none."""
    auth = UserAuth(kind="eks-exec", exec=exec_config())
    assert UNTRUSTED.check_selection(selection(auth=auth), eks=True).server == SERVER
    assert UNTRUSTED.needs_eks_check(SERVER)
    assert not TrustPolicy.untrusted(allowed_servers=[SERVER]).needs_eks_check(SERVER)


def test_trust_the_kubeconfigs_own_credentials_may_go_to_any_server_unless_servers_are_pinned() -> None:
    own = selection("https://anywhere.example.test")
    assert UNTRUSTED.check_selection(own, eks=False) == own
    inline_cert = UserAuth(kind="client-cert", client_cert_data=b"c", client_key_data=b"k")
    assert UNTRUSTED.check_selection(selection(auth=inline_cert), eks=False).auth is inline_cert
    basic = UserAuth(kind="basic", username="u", password="p")
    assert UNTRUSTED.check_selection(selection(auth=basic), eks=False).auth is basic
    pinned = TrustPolicy.untrusted(allowed_servers=[SERVER], pin_servers=True)
    with pytest.raises(KubeconfigRefused, match="this host pins servers"):
        pinned.check_selection(own, eks=False)
    pinned.check_selection(selection(SERVER), eks=False)
    eks = selection("https://anywhere.example.test", auth=UserAuth(kind="eks-exec", exec=exec_config()))
    pinned.check_selection(eks, eks=True)  # DescribeCluster confirms it instead


def test_trust_host_credentials_use_the_operators_ca_never_the_kubeconfigs(tmp_path: Path) -> None:
    ca_file, operator_ca = pem_ca(tmp_path)
    with_ca = TrustPolicy.untrusted(allowed_servers={SERVER: ca_file})
    without_ca = TrustPolicy.untrusted(allowed_servers=[SERVER])
    theirs = selection(auth=exec_auth(), ca_data=b"the kubeconfig's CA")
    assert with_ca.check_selection(theirs, eks=False).ca_data == operator_ca
    with pytest.raises(KubeconfigRefused, match="sets its own certificate-authority"):
        without_ca.check_selection(theirs, eks=False)
    assert without_ca.check_selection(selection(auth=exec_auth()), eks=False).ca_data is None  # system store
    with pytest.raises(KubeconfigRefused, match="sets tls-server-name"):
        with_ca.check_selection(selection(auth=exec_auth(), tls_server_name="kubernetes"), eks=False)
    own = selection(ca_data=b"the kubeconfig's CA")  # its own token: its own CA is fine
    assert without_ca.check_selection(own, eks=False).ca_data == b"the kubeconfig's CA"


# ---- TrustPolicy: files ------------------------------------------------------------------------


def test_trust_files_only_under_the_allowed_directories(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("x")
    (allowed / "link").symlink_to(outside / "secret")
    policy = TrustPolicy.untrusted(allowed_dirs=[allowed])
    assert policy.check_path(allowed / "config") == (allowed / "config").resolve()
    for path in (outside / "secret", allowed / ".." / "outside" / "secret", allowed / "link"):
        with pytest.raises(
            KubeconfigRefused, match="outside the directories an untrusted kubeconfig may read"
        ):
            policy.check_path(path)
    with pytest.raises(KubeconfigRefused, match="allowed: none"):
        UNTRUSTED.check_path(allowed / "config")
    assert TRUSTED.check_path(outside / "secret") == outside / "secret"
    assert policy.file_dirs == (os.fspath(allowed),)


# ---- building a policy -------------------------------------------------------------------------


def test_build_allowed_servers_are_https_and_compared_normalized() -> None:
    with pytest.raises(InvalidArgument, match="must be an https:// URL"):
        TrustPolicy.untrusted(allowed_servers=["http://api.example.test"])
    policy = TrustPolicy.untrusted(allowed_servers=["https://API.Example.Test.:6443/"])
    assert policy.server_allowed(SERVER) and policy.server_allowed("https://user@api.example.test:6443")
    assert not policy.server_allowed("https://api.example.test:6444")
    assert normalize_server("https://API.example.test") == "https://api.example.test:443"
    with pytest.raises(KubeconfigRefused, match="is malformed"):
        normalize_server("https://[not-an-address")


def test_build_inconsistent_policies_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="pin_servers applies to untrusted kubeconfigs"):
        TrustPolicy(trusted=True, pin_servers=True)
    with pytest.raises(InvalidArgument, match="is not normalized"):
        TrustPolicy(allowed_servers=frozenset({"https://API.example.test"}))
    with pytest.raises(InvalidArgument, match="which is not an allowed server"):
        TrustPolicy(server_cas=(("https://api.example.test:6443", b"pem"),))


def test_build_the_operators_ca_file_must_be_a_readable_pem_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot be read"):
        TrustPolicy.untrusted(allowed_servers={SERVER: tmp_path / "missing.pem"})
    with pytest.raises(InvalidArgument, match="cannot be read"):
        TrustPolicy.untrusted(allowed_servers={SERVER: tmp_path})  # a directory
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(InvalidArgument, match="holds no PEM certificate"):
        TrustPolicy.untrusted(allowed_servers={SERVER: tmp_path / "not.pem"})
    (tmp_path / "huge.pem").write_bytes(b"-----BEGIN CERTIFICATE-----" + b"A" * PEM_MAX)
    with pytest.raises(InvalidArgument, match="cannot be read"):
        TrustPolicy.untrusted(allowed_servers={SERVER: tmp_path / "huge.pem"})
    ca_file, data = pem_ca(tmp_path)
    policy = TrustPolicy.untrusted(allowed_servers={SERVER: ca_file, "https://other.example.test": None})
    assert policy.server_cas == ((SERVER, data),)


def test_build_trust_policy_reads_the_two_words_and_refuses_others() -> None:
    custom = TrustPolicy.untrusted(allowed_dirs=["/srv"])
    assert trust_policy("trusted", UNTRUSTED) is TRUSTED
    assert trust_policy("untrusted", TRUSTED) is UNTRUSTED
    assert trust_policy(None, custom) is custom and trust_policy(custom, TRUSTED) is custom
    with pytest.raises(InvalidArgument, match="trust must be 'trusted', 'untrusted' or a TrustPolicy"):
        trust_policy("paranoid", TRUSTED)  # type: ignore[arg-type]
