"""The AWS side of ``EKSLab``: accounts, IAM users and roles, their mapping to Kubernetes
users, AWS profiles and environments, and the faults tests inject into AWS calls."""

from __future__ import annotations

import configparser
import os
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kom_async.errors import KomError
from kom_async.lab.authn import ADMIN_GROUPS, IdentityMap
from kom_async.lab.aws import AWSCredential, MotoAWS
from kom_async.lab.awsproxy import STS_REFUSALS, AWSProxy, Denial
from kom_async.lab.faults import Fault
from kom_async.lab.kubeconfig import write_private


class LabError(KomError):
    """The lab was used wrongly: not started, unknown cluster, duplicate cluster..."""


@dataclass(frozen=True, slots=True)
class LabAccount:
    """Another AWS account of the lab, reached by assuming ``role_arn`` (mapped as admin)."""

    account_id: str
    role_arn: str


class LabAWS:
    """``EKSLab``'s AWS knobs (``EKSLab`` derives from this; the lab must be running)."""

    region: str
    identities: IdentityMap
    _aws: MotoAWS
    _proxy: AWSProxy | None
    _dir: Path | None

    def _running(self) -> None:
        if self._proxy is None or self._dir is None:
            raise LabError("the lab is not running; use 'async with EKSLab() as lab:'")

    @property
    def _admin(self) -> AWSCredential:
        if self._aws.admin is None:
            raise LabError("the lab is not running; use 'async with EKSLab() as lab:'")
        return self._aws.admin

    def _account_of(self, access_key_id: str) -> str | None:
        cred = self._aws.lookup(access_key_id)
        return cred.account_id if cred is not None else None

    def _local_sts_hosts(self) -> Collection[str]:
        hosts = []
        for url in (self._proxy.url if self._proxy else "", self._aws.url):
            if url:
                hosts.append(url.split("://", 1)[1])
        return hosts

    @property
    def account_id(self) -> str:
        """The lab's private moto account id."""
        return self._aws.account_id

    @property
    def aws_url(self) -> str:
        """The AWS endpoint clients use (the fault proxy in front of moto)."""
        self._running()
        assert self._proxy is not None
        return self._proxy.url

    @property
    def admin_arn(self) -> str:
        """The ARN of the lab's own IAM user (mapped as cluster admin)."""
        return self._admin.arn

    @property
    def aws_env(self) -> dict[str, str]:
        """Environment for a process (or aiobotocore) to use the lab's AWS as the lab user."""
        return self.env_for(self._admin)

    def env_for(self, cred: AWSCredential) -> dict[str, str]:
        """Like :attr:`aws_env` but with another credential's keys."""
        self._running()
        assert self._dir is not None
        env = {
            "AWS_ACCESS_KEY_ID": cred.access_key_id,
            "AWS_SECRET_ACCESS_KEY": cred.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_STS": self.aws_url,
            "AWS_ENDPOINT_URL_EKS": self.aws_url,
            "AWS_ENDPOINT_URL_IAM": self.aws_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(self._dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self._dir / "credentials"),
        }
        if cred.session_token:
            env["AWS_SESSION_TOKEN"] = cred.session_token
        return env

    def create_user(
        self, name: str, *, map_as: str | None = None, groups: Sequence[str] = ADMIN_GROUPS
    ) -> AWSCredential:
        """Create an IAM user with a key; map it to Kubernetes user ``map_as`` if given."""
        self._running()
        cred = self._aws.create_user(name)
        if map_as:
            self.identities.map(cred.arn, map_as, groups)
        return cred

    async def create_role(
        self, name: str, *, map_as: str | None = None, groups: Sequence[str] = ADMIN_GROUPS
    ) -> str:
        """Create an assumable IAM role; map it to Kubernetes user ``map_as`` if given."""
        self._running()
        arn = self._aws.create_role(name)
        if map_as:
            self.identities.map(arn, map_as, groups)
        return arn

    async def create_account(self, role_name: str = "kom-async-fleet") -> LabAccount:
        """Another AWS account: the lab user assumes ``role_name`` in it (mapped as cluster
        admin) to reach its clusters, as an organisation's discovery role works."""
        self._running()
        account = self._aws.create_account()
        arn = self._aws.create_role(role_name, account)
        self.identities.map(arn, f"{role_name}@{account}", ADMIN_GROUPS)
        return LabAccount(account, arn)

    def map_role(self, role_arn: str, username: str, groups: Sequence[str] = ADMIN_GROUPS) -> None:
        """mapRoles: tokens of sessions of ``role_arn`` authenticate as ``username``."""
        self.identities.map(role_arn, username, groups)

    def map_user(self, user_arn: str, username: str, groups: Sequence[str] = ADMIN_GROUPS) -> None:
        """mapUsers: tokens of IAM user ``user_arn`` authenticate as ``username``."""
        self.identities.map(user_arn, username, groups)

    def unmap(self, arn: str) -> None:
        """Remove an identity mapping (its tokens get 401 from now on)."""
        self.identities.unmap(arn)

    def refuse_upgrades(self, arn: str, *, refuse: bool = True) -> None:
        """Tokens of ``arn`` get 401 on exec/port-forward upgrades only (``refuse=False`` undoes it)."""
        (self.identities.upgrades_refused.add if refuse else self.identities.upgrades_refused.discard)(arn)

    def add_profile(
        self,
        profile: str,
        *,
        cred: AWSCredential | None = None,
        role_arn: str | None = None,
        region: str | None = None,
    ) -> None:
        """Write an AWS profile into the lab's config/credentials files (see :attr:`aws_env`).

        With ``role_arn`` the profile assumes that role from a ``<profile>-source`` profile
        holding ``cred`` (the lab user by default), as the AWS CLI does.
        """
        self._running()
        assert self._dir is not None
        cred = cred or self._admin
        config, creds = configparser.ConfigParser(), configparser.ConfigParser()
        config.read(self._dir / "config")
        creds.read(self._dir / "credentials")
        key_profile = f"{profile}-source" if role_arn else profile
        creds[key_profile] = {
            "aws_access_key_id": cred.access_key_id,
            "aws_secret_access_key": cred.secret_access_key,
        }
        if cred.session_token:
            creds[key_profile]["aws_session_token"] = cred.session_token
        section = f"profile {profile}"
        config[section] = {"region": region or self.region}
        if role_arn:
            config[section]["role_arn"] = role_arn
            config[section]["source_profile"] = key_profile
        for parser, fname in ((config, "config"), (creds, "credentials")):
            with open(self._dir / fname, "w", encoding="utf-8") as fh:
                parser.write(fh)

    def write_env_file(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`aws_env` as ``export K=V`` lines (mode 0600) for a shell to source."""
        import shlex

        lines = [f"export {k}={shlex.quote(v)}\n" for k, v in self.aws_env.items()]
        return write_private(path, "".join(lines))

    def aws_fault(
        self,
        service: str,
        *,
        delay: float = 0.0,
        status: int | None = None,
        retry_after: float | None = None,
        unavailable: bool = False,
        count: int | None = None,
    ) -> Fault:
        """Perturb calls to one AWS service ("sts", "eks", "iam") through the lab endpoint."""
        self._running()
        assert self._proxy is not None
        fault = Fault(delay, status, retry_after, unavailable, count)
        self._proxy.faults[service] = fault
        return fault

    def aws_throttle(
        self, service: str = "eks", *, count: int | None = None, code: str = "ThrottlingException"
    ) -> Fault:
        """Throttle the next ``count`` calls to ``service`` (None: until cleared) as AWS does
        (HTTP 400 ``ThrottlingException``, or ``code``, e.g. ``TooManyRequestsException``)."""
        fault = self.aws_fault(
            service, status=429 if code == "TooManyRequestsException" else 400, count=count
        )
        fault.code = code
        return fault

    def deny_aws(
        self,
        *,
        region: str | None = None,
        account: LabAccount | str | None = None,
        service: str = "eks",
        code: str = "AccessDeniedException",
    ) -> None:
        """Refuse ``service`` calls in ``region`` from ``account`` (None: any) with ``code``:
        ``AccessDeniedException``, or ``UnrecognizedClientException`` as AWS answers in an
        opt-in region the account has not enabled. :meth:`clear_aws_faults` lifts it."""
        self._running()
        assert self._proxy is not None
        account_id = account.account_id if isinstance(account, LabAccount) else account
        self._proxy.denials.append(Denial(service, region, account_id, code))

    def sts_fault(self, **options: Any) -> Fault:
        """:meth:`aws_fault` for STS (AssumeRole, GetCallerIdentity...)."""
        return self.aws_fault("sts", **options)

    def sts_refuse_key(self, access_key_id: str, code: str | None = "InvalidClientTokenId") -> None:
        """Make STS refuse every call signed with ``access_key_id``, as AWS does for a wrong
        secret (``SignatureDoesNotMatch``), an unknown key or an expired session (``ExpiredToken``).
        ``sts_refuse_key(key, None)`` accepts it again."""
        self._running()
        assert self._proxy is not None
        if code is None:
            self._proxy.refused_keys.pop(access_key_id, None)
        elif code not in STS_REFUSALS:
            raise ValueError(f"code must be one of {', '.join(STS_REFUSALS)}")
        else:
            self._proxy.refused_keys[access_key_id] = code

    def clear_aws_faults(self) -> None:
        """Remove every AWS fault and denial."""
        if self._proxy is not None:
            self._proxy.faults.clear()
            self._proxy.denials.clear()

    def aws_requests(self) -> Counter[str]:
        """How many requests each AWS service received through the lab endpoint."""
        self._running()
        assert self._proxy is not None
        return Counter(self._proxy.requests)
