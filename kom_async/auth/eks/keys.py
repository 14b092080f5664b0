"""Signing keys and the STS target for minting outside an event loop (``kom-async eks get-token``).

``quick_target`` covers the common case with the standard library alone: keys in the
environment, a region given, no profile or role, nothing that moves the STS endpoint
except ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL``. When it cannot be sure it
answers None, and ``botocore_target`` resolves everything through botocore's own
credential chain and endpoint rules (profiles, SSO, roles, FIPS, partitions), exactly
as ``aws eks get-token`` does, without aiobotocore.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from kom_async.auth.eks.sign import SigningKeys

ROLE_SESSION_NAME = "kom-async"
# regions of the standard partition (amazonaws.com); cn-, us-gov-, iso regions go through botocore
_STANDARD_REGION = re.compile(r"^(?!cn-|us-gov-|us-iso)[a-z]{2}-[a-z]+-\d+$")
# settings (env or config file) that change which STS endpoint botocore signs for
_ENDPOINT_ENV_FLAGS = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT")
_ENDPOINT_CONFIG_KEYS = frozenset(
    {
        "endpoint_url",
        "services",
        "sts_regional_endpoints",
        "use_fips_endpoint",
        "use_dualstack_endpoint",
        "ignore_configured_endpoint_urls",
        "defaults_mode",
    }
)


class MintTarget(NamedTuple):
    """Everything a token needs besides the cluster name: keys, STS URL, signing scope."""

    keys: SigningKeys
    sts_url: str
    signing_region: str
    signing_name: str
    #: where the keys came from, for messages: "env", "shared-credentials-file", "assume-role", ...
    source: str


def env_region(region: str | None, environ: Mapping[str, str]) -> str | None:
    """``region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION`` (the CLI v2 order); None:
    the profile's config decides."""
    return region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def _config_moves_endpoint(environ: Mapping[str, str]) -> bool | None:
    """True if the default profile's config sets anything endpoint-related; None if unreadable."""
    path = environ.get("AWS_CONFIG_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "config")
    if not os.path.exists(path):
        return False
    parser = configparser.RawConfigParser()
    try:
        parser.read(os.path.expanduser(path), encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    if not parser.has_section("default"):
        return False
    return any(key in _ENDPOINT_CONFIG_KEYS for key in parser.options("default"))


def quick_target(
    environ: Mapping[str, str],
    *,
    region: str | None,
    profile: str | None = None,
    role_arn: str | None = None,
) -> MintTarget | None:
    """The target for environment keys, resolved without botocore; None when botocore must decide."""
    if profile or role_arn or environ.get("AWS_PROFILE") or environ.get("AWS_DEFAULT_PROFILE"):
        return None  # a named profile may not exist (botocore fails) or may move the endpoint
    access_key = environ.get("AWS_ACCESS_KEY_ID")
    secret_key = environ.get("AWS_SECRET_ACCESS_KEY")
    if not access_key or not secret_key:
        return None
    region = env_region(region, environ)
    if not region or any(_truthy(environ.get(name)) for name in _ENDPOINT_ENV_FLAGS):
        return None
    if environ.get("AWS_STS_REGIONAL_ENDPOINTS", "regional").lower() != "regional":
        return None
    if _config_moves_endpoint(environ) is not False:
        return None
    url = None
    if not _truthy(environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")):
        url = environ.get("AWS_ENDPOINT_URL_STS") or environ.get("AWS_ENDPOINT_URL")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            return None
        sts_url = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
    elif _STANDARD_REGION.match(region):
        sts_url = f"https://sts.{region}.amazonaws.com/"
    else:
        return None
    token = environ.get("AWS_SESSION_TOKEN") or environ.get("AWS_SECURITY_TOKEN") or None
    return MintTarget(SigningKeys(access_key, secret_key, token), sts_url, region, "sts", "env")


def botocore_target(
    *, region: str | None, profile: str | None = None, role_arn: str | None = None
) -> MintTarget:
    """The target as botocore resolves it (credential chain, endpoint rules); raises botocore errors."""
    import botocore.session
    from botocore.config import Config
    from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
    from botocore.exceptions import NoCredentialsError

    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
    session = botocore.session.Session(profile=profile)
    credentials: Any = session.get_credentials()
    if credentials is None:
        raise NoCredentialsError()
    source = str(getattr(credentials, "method", "") or "unknown")
    sts = session.create_client("sts", region_name=region, config=config)
    if role_arn:

        def client_creator(service: str, **kwargs: Any) -> Any:
            kwargs.setdefault("config", config)
            return session.create_client(service, region_name=region, **kwargs)

        fetcher = AssumeRoleCredentialFetcher(
            client_creator=client_creator,
            source_credentials=credentials,
            role_arn=role_arn,
            extra_args={"RoleSessionName": ROLE_SESSION_NAME},
        )
        credentials = DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
        source = "assume-role"
    frozen = credentials.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise NoCredentialsError()
    probe = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    parts = urlsplit(probe)
    scope = parse_qs(parts.query)["X-Amz-Credential"][0].split("/")
    return MintTarget(
        SigningKeys(frozen.access_key, frozen.secret_key, frozen.token or None),
        f"{parts.scheme}://{parts.netloc}{parts.path or '/'}",
        scope[2],
        scope[3],
        source,
    )
