"""The on-disk EKS token cache of ``kom-async eks get-token``, one file per cluster and identity.

kubectl runs its exec plugin once per invocation, so without a cache every ``kubectl get``
pays for a new token. Like kubelogin and aws-iam-authenticator, tokens are kept per user in
``$XDG_CACHE_HOME/kom-async`` (default ``~/.cache/kom-async``): the directory is 0700, each
file 0600 and written atomically. A file is named by a hash of everything that decides the
token (cluster, region, profile, role, the access key id, the AWS settings in the
environment, the AWS config files' identity), so another profile or key never reads it;
no AWS secret is stored. A token is served until the SDK's advisory window before its
expiry (``ADVISORY_WINDOW`` of ``auth/timing.py``, where all refresh timing lives). Any
problem with the cache (permissions, a foreign owner, a corrupt file) makes it a miss,
never an error.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping

from kom_async.config.readfile import CACHE_MAX, FileRefused, read_file

try:  # CPython's small SHA-256 module: hashlib would load OpenSSL on the start-up path
    from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - other interpreters, Python >= 3.12 (_sha2)
    from hashlib import sha256

from kom_async.auth.timing import ADVISORY_WINDOW

_VERSION = 1
# environment settings that change the identity or the STS target a token is signed for
_IDENTITY_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
)
# secrets: never stored or hashed on their own, only folded into the key with everything else
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/kom-async``, else ``~/.cache/kom-async``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kom-async")


def _file_identity(path: str) -> list[int]:
    try:
        st = os.stat(os.path.expanduser(path))
    except (OSError, ValueError):
        return []
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def identity_material(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """This host's AWS identity as far as it decides a token: the identity settings in the
    environment, the AWS config files' identity, and a hash of the secrets (never the secrets)."""
    env = os.environ if environ is None else environ
    home = os.path.join(os.path.expanduser("~"), ".aws")
    files = (
        env.get("AWS_CONFIG_FILE") or os.path.join(home, "config"),
        env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, "credentials"),
    )
    return {
        "env": {n: env[n] for n in _IDENTITY_ENV if n in env},
        "files": [_file_identity(f) for f in files],
        "secret": sha256("\0".join(env.get(n, "") for n in _SECRET_ENV).encode()).hexdigest(),
    }


def cache_key(
    *,
    cluster: str,
    region: str | None,
    profile: str | None,
    role_arn: str | None,
    cluster_id_flag: bool = False,
    environ: Mapping[str, str] | None = None,
) -> str:
    """A hex digest naming the cache entry of one token request and one AWS identity.

    Changing any identity setting (a key in the environment, a profile, an edited
    credentials file) changes the key, so a stale identity's token is never served.
    """
    material = {
        "v": _VERSION,
        "cluster": cluster,
        "cluster_id_flag": cluster_id_flag,
        "region": region,
        "profile": profile,
        "role_arn": role_arn,
        **identity_material(environ),
    }
    return str(sha256(json.dumps(material, sort_keys=True).encode()).hexdigest())


class TokenCache:
    """Read and write cached tokens in ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | None = None, *, margin: float = ADVISORY_WINDOW) -> None:
        self.directory = directory or cache_dir()
        self.margin = margin

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, f"eks-token-{key}.json")

    def load(self, key: str, *, now: float | None = None) -> tuple[str, str] | None:
        """``(token, expirationTimestamp)`` if a token is cached and outside the margin, else None."""
        if not private_dir(self.directory, create=False):
            return None
        path = self._path(key)
        try:
            st = os.lstat(path)
            if st.st_uid != os.getuid() or st.st_mode & 0o077:
                return None
            doc = json.loads(
                read_file(path, limit=CACHE_MAX, what="token cache entry", follow_symlinks=False)
            )
        except FileRefused as exc:
            _warn_refused(path, exc)
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("version") != _VERSION:
            return None
        token, expires, stamp = doc.get("token"), doc.get("expires_at"), doc.get("expirationTimestamp")
        if not isinstance(token, str) or not isinstance(expires, (int, float)) or not isinstance(stamp, str):
            return None
        if (time.time() if now is None else now) >= expires - self.margin:
            return None
        return token, stamp

    def store(self, key: str, token: str, expires_at: float, stamp: str) -> bool:
        """Write the entry atomically with mode 0600; False (and nothing written) on any problem."""
        if not private_dir(self.directory, create=True):
            return False
        body = json.dumps(
            {"version": _VERSION, "token": token, "expires_at": expires_at, "expirationTimestamp": stamp}
        ).encode()
        return write_private(self._path(key), body)


def private_dir(directory: str, *, create: bool) -> bool:
    """True if ``directory`` exists, is this user's, is no symlink and is 0700 (made so, and made
    when ``create``): where a token may be kept. The shared token store uses it too."""
    try:
        if create:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        st = os.lstat(directory)
    except OSError:
        return False
    if not os.path.isdir(directory) or os.path.islink(directory) or st.st_uid != os.getuid():
        return False
    if st.st_mode & 0o077:
        try:
            os.chmod(directory, 0o700)
        except OSError:
            return False
    return True


def write_private(path: str, body: bytes) -> bool:
    """Replace ``path`` with ``body`` atomically, mode 0600, never through a symlink; False (and
    nothing written) on any problem."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.unlink(tmp)  # left behind by a crashed run with our pid
    except OSError:
        pass
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def _warn_refused(path: str, exc: FileRefused) -> None:
    """Say why an entry was skipped (a FIFO or an oversized file there is no accident); the
    token is then minted afresh and written over it."""
    import logging  # only here: a cache hit stays lean

    logging.getLogger(__name__).warning(
        "ignoring the token cache entry %s (%s); a new token replaces it", path, exc.strerror
    )
