"""What an EKS exec user asks for, in AWS terms: ``EKSAuthConfig`` and its parsers.

The kubeconfig loader marks a user whose exec plugin mints EKS tokens (``aws eks get-token``,
``aws-iam-authenticator token``) ``eks-exec``; ``eks_config_from_exec`` and ``parse_eks_config``
read such a user into an ``EKSAuthConfig`` (cluster, region, profile, role, the exec env): what
registration admits and the token sources use.
Light on purpose: no aiobotocore, and PyYAML only when parsing text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit

from kom_async.config.kubeconfig import AUTHENTICATOR_COMMANDS, AWS_COMMANDS, is_aws_get_token
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, KubeconfigError

if TYPE_CHECKING:
    from kom_async.config.kubeconfig import ExecConfig

# `aws` global options that take a value and do not change the token `eks get-token` prints.
_AWS_HARMLESS_VALUE_OPTS = frozenset({"--output", "--color", "--query", "--endpoint-url"})
# `aws` global flags that do not change the token.
_AWS_HARMLESS_FLAGS = frozenset({"--no-cli-pager", "--no-paginate", "--debug", "--no-cli-auto-prompt"})
_AUTHENTICATOR_HARMLESS_FLAGS = frozenset({"--cache", "-e", "--token-only"})

# EKS API endpoints look like https://<id>.<shard>.<region>.eks.amazonaws.com[.cn]
_EKS_HOST = re.compile(
    r"\.(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+)\.eks\.amazonaws\.com(?:\.cn)?$"
)


class AWSIdentity(TypedDict):
    """The AWS identity an ``EKSAuthConfig`` names, as the AWS client pool's keywords."""

    profile: str | None
    profile_from_env: bool
    region: str | None
    role_arn: str | None
    external_id: str | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class EKSAuthConfig:
    """What an EKS exec user (or a ``register_eks`` call) asks for, in AWS terms.

    ``cluster_name`` is the value signed as ``x-k8s-aws-id`` (the cluster name, or the
    Outposts cluster id when ``cluster_id_flag`` is set). ``region`` is None when
    neither args nor env name one: the AWS config of the profile decides, as for the
    CLI. ``env`` is the exec plugin's env, layered over ``os.environ`` when minting
    natively; it may hold secrets and never appears in the repr.
    """

    cluster_name: str
    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    exec_config: ExecConfig | None = field(default=None, hash=False)
    external_id: str | None = None
    cluster_id_flag: bool = False
    env: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)
    #: True when ``profile`` came from AWS_PROFILE in ``env`` rather than a --profile
    #: argument: then, as for the CLI, AWS keys in the environment still win.
    profile_from_env: bool = False
    #: region named by the kubeconfig's server host (``*.<region>.eks.amazonaws.com``)
    server_region: str | None = None
    #: arguments the native source cannot reproduce (it then falls back to exec)
    unsupported: tuple[str, ...] = ()

    @property
    def k8s_aws_id(self) -> str:
        """The identifier signed into the token's ``x-k8s-aws-id`` header."""
        return self.cluster_name

    @property
    def aws_identity(self) -> AWSIdentity:
        """Whose AWS credentials sign and call for this cluster: the one place the config's
        fields become an identity (the client pool's key, the DescribeCluster cache's)."""
        return AWSIdentity(
            profile=self.profile,
            profile_from_env=self.profile_from_env,
            region=self.region,
            role_arn=self.role_arn,
            external_id=self.external_id,
            env=self.env,
        )


def region_from_server(server: str | None) -> str | None:
    """The AWS region in an EKS API server URL, or None for any other host."""
    if not server:
        return None
    try:
        host = urlsplit(server).hostname or ""
    except ValueError:
        return None
    match = _EKS_HOST.search(host.lower())
    return match.group("region") if match else None


class _Args:
    """A cursor over an argv that understands ``--opt value`` and ``--opt=value``."""

    def __init__(self, args: Sequence[str]) -> None:
        self._args = list(args)
        self._i = 0

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        while self._i < len(self._args):
            arg = self._args[self._i]
            self._i += 1
            if arg.startswith("--") and "=" in arg:
                name, _, value = arg.partition("=")
                yield name, value
            else:
                yield arg, None

    def value(self, name: str, inline: str | None) -> str:
        """The option's value: the inline ``=value`` or the next argument."""
        if inline is not None:
            return inline
        if self._i >= len(self._args):
            raise EKSAuthError(
                EKSAuthErrorKind.InvalidKubeconfig, f"exec argument {name} is missing its value"
            )
        value = self._args[self._i]
        self._i += 1
        return value


@dataclass
class _Parsed:
    cluster_name: str | None = None
    cluster_id: str | None = None
    region: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    unsupported: list[str] = field(default_factory=list)


def _parse_aws_args(args: Sequence[str]) -> _Parsed:
    out = _Parsed()
    cursor = _Args(args)
    positionals: list[str] = []
    for name, inline in cursor:
        if name == "--cluster-name":
            out.cluster_name = cursor.value(name, inline)
        elif name == "--cluster-id":
            out.cluster_id = cursor.value(name, inline)
        elif name == "--region":
            out.region = cursor.value(name, inline)
        elif name == "--profile":
            out.profile = cursor.value(name, inline)
        elif name == "--role-arn":
            out.role_arn = cursor.value(name, inline)
        elif name in _AWS_HARMLESS_VALUE_OPTS:
            cursor.value(name, inline)
        elif name in _AWS_HARMLESS_FLAGS:
            pass
        elif name.startswith("-"):
            out.unsupported.append(f"aws option {name}")
        else:
            positionals.append(name)
    if positionals != ["eks", "get-token"]:
        extra = [p for p in positionals if p not in ("eks", "get-token")]
        if extra:
            out.unsupported.append(f"aws arguments {' '.join(extra)!r}")
    return out


def _parse_authenticator_args(args: Sequence[str]) -> _Parsed:
    out = _Parsed()
    cursor = _Args(args)
    for name, inline in cursor:
        if name in ("-i", "--cluster-id"):
            out.cluster_name = cursor.value(name, inline)
        elif name in ("-r", "--role"):
            out.role_arn = cursor.value(name, inline)
        elif name == "--region":
            out.region = cursor.value(name, inline)
        elif name == "--external-id":
            out.external_id = cursor.value(name, inline)
        elif name in _AUTHENTICATOR_HARMLESS_FLAGS or name == "token":
            pass
        else:
            out.unsupported.append(f"aws-iam-authenticator argument {name}")
    return out


def _nonempty(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def eks_config_from_exec(exec_config: ExecConfig, server: str | None = None) -> EKSAuthConfig:
    """Interpret an EKS exec plugin (``aws eks get-token`` / ``aws-iam-authenticator token``).

    Raises ``EKSAuthError`` ``InvalidKubeconfig`` for any other plugin or a missing
    cluster name, and ``RegionMismatch`` when the args/env region disagrees with the
    region in the ``server`` host (``*.<region>.eks.amazonaws.com``).
    """
    command = os.path.basename(exec_config.command)
    args = [str(a) for a in exec_config.args]
    env = dict(exec_config.env)
    cluster_id_flag = False
    if command in AWS_COMMANDS and is_aws_get_token(args):
        parsed = _parse_aws_args(args)
        if parsed.cluster_name and parsed.cluster_id:
            raise EKSAuthError(
                EKSAuthErrorKind.InvalidKubeconfig,
                "aws eks get-token takes --cluster-name or --cluster-id, not both",
            )
        if parsed.cluster_id:
            parsed.cluster_name, cluster_id_flag = parsed.cluster_id, True
    elif command in AUTHENTICATOR_COMMANDS and "token" in args:
        parsed = _parse_authenticator_args(args)
    else:
        raise EKSAuthError(
            EKSAuthErrorKind.InvalidKubeconfig,
            f"exec plugin {command!r} is not 'aws eks get-token' or 'aws-iam-authenticator token'",
        )
    if not parsed.cluster_name:
        raise EKSAuthError(
            EKSAuthErrorKind.InvalidKubeconfig,
            f"exec plugin {command!r} names no cluster (--cluster-name / --cluster-id / -i)",
        )
    # The CLI v2 and the Go SDK read AWS_REGION before AWS_DEFAULT_REGION.
    region = parsed.region or _nonempty(env, "AWS_REGION", "AWS_DEFAULT_REGION")
    profile_from_env = False
    profile = parsed.profile
    if profile is None:
        profile = _nonempty(env, "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
        profile_from_env = profile is not None
    server_region = region_from_server(server)
    if region and server_region and region != server_region:
        raise EKSAuthError(
            EKSAuthErrorKind.RegionMismatch,
            f"the exec plugin signs for region {region!r} but the server "
            f"{urlsplit(server or '').hostname!r} is in {server_region!r}; fix --region "
            "(or AWS_REGION) in the kubeconfig",
        )
    return EKSAuthConfig(
        cluster_name=parsed.cluster_name,
        region=region,
        profile=profile,
        role_arn=parsed.role_arn,
        exec_config=exec_config,
        external_id=parsed.external_id,
        cluster_id_flag=cluster_id_flag,
        env=MappingProxyType(env),
        profile_from_env=profile_from_env,
        server_region=server_region,
        unsupported=tuple(parsed.unsupported),
    )


def parse_eks_config(kubeconfig: str | bytes, context: str | None = None) -> EKSAuthConfig:
    """Parse kubeconfig YAML and interpret its (selected context's) EKS exec user.

    ``KubeconfigError`` when the YAML is malformed; ``EKSAuthError`` of kind
    ``InvalidKubeconfig`` when it is valid but does not authenticate the EKS way.
    """
    from kom_async.config.kubeconfig import load_kubeconfig

    selection = load_kubeconfig(kubeconfig, context=context)
    exec_config = selection.auth.exec
    if exec_config is None:
        raise EKSAuthError(
            EKSAuthErrorKind.InvalidKubeconfig,
            f"user {selection.user_name!r} authenticates with {selection.auth.kind!r}, "
            "not an EKS exec plugin (aws eks get-token / aws-iam-authenticator)",
        )
    return eks_config_from_exec(exec_config, selection.server)


def is_eks_config(kubeconfig: object) -> bool:
    """True if ``kubeconfig`` (YAML text) selects an EKS exec user; never raises."""
    if not isinstance(kubeconfig, (str, bytes)):
        return False
    try:
        parse_eks_config(kubeconfig)
    except (KubeconfigError, EKSAuthError):
        return False
    except Exception:
        return False
    return True
