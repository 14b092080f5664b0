"""Tokens shared by the worker processes of one host (opt-in: ``Clusters(token_store=...)``).

A service run as N workers (gunicorn/uvicorn ``--workers N``) would otherwise run every exec
plugin and mint every EKS token N times. A ``SharedTokenStore`` keeps one entry per token key
in a private directory, as ``kom-async eks get-token`` keeps its cache: the directory 0700,
each entry 0600 and replaced atomically, and an advisory lock (``flock``) per key so that one
worker fetches while the others wait and then read what it wrote. Keys are hashes of
everything that decides the token (the plugin's command, args, env and cluster, or the EKS
cluster, region, role and profile) and of this host's AWS identity, so a worker never reads a
token made for another identity. Any problem with the store (unwritable, foreign owner, a
corrupt or special file, a lock that takes too long) makes the worker fetch on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import stat
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.eks.token_cache import identity_material, private_dir, write_private
from kom_async.auth.timing import RefreshPolicy
from kom_async.auth.token import Token, TokenSource
from kom_async.config.readfile import read_file

try:  # CPython's small SHA-256 module, as the get-token cache uses
    from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - other interpreters, Python >= 3.12 (_sha2)
    from hashlib import sha256

log = logging.getLogger("kom_async.auth")

_VERSION = 1
_MAX_ENTRY = 64 * 1024
#: how often a worker waiting for another's fetch looks at the lock again (seconds)
_LOCK_POLL = 0.02
#: the default refresh windows: a shared token past its advisory deadline is not taken
_WINDOWS = RefreshPolicy()


def token_key(kind: str, material: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The store key of a token: a hash of ``material`` (what the token is for) and of this
    host's AWS identity as the get-token cache sees it (keys, profiles, config files)."""
    doc = {"v": _VERSION, "kind": kind, "for": material, "identity": identity_material(environ)}
    return str(sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest())


class SharedTokenStore:
    """One directory of token entries shared by this user's processes (see the module doc).

    ``lock_timeout``: how long a worker waits for another worker's fetch before fetching on
    its own (an exec plugin's timeout plus a margin is a good value).
    """

    def __init__(self, directory: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> None:
        self.directory = os.path.expanduser(os.fspath(directory))
        self.lock_timeout = lock_timeout
        self._warned = False

    def __repr__(self) -> str:
        return f"SharedTokenStore({self.directory!r})"

    def _path(self, key: str, suffix: str) -> str:
        return os.path.join(self.directory, f"token-{key}{suffix}")

    def usable(self) -> bool:
        """True when entries can be shared here; a warning (once) when they cannot."""
        ok = private_dir(self.directory, create=True)
        if not ok and not self._warned:
            self._warned = True
            log.warning(
                "shared token store %s is not usable (missing permission, not a private directory "
                "of this user): each process fetches its own tokens",
                self.directory,
            )
        return ok

    def read(self, key: str) -> tuple[str, float | None, float] | None:
        """``(token, expires_at, issued_at)`` of the entry, or None (missing, not ours, broken)."""
        path = self._path(key, ".json")
        try:
            if not _private_regular(os.lstat(path)):
                return None
            doc = json.loads(
                read_file(path, limit=_MAX_ENTRY, what="shared token entry", follow_symlinks=False)
            )
        except (OSError, ValueError):  # a special or oversized file is refused by the reader: a miss
            return None
        if not isinstance(doc, dict) or doc.get("version") != _VERSION:
            return None
        token, expires, issued = doc.get("token"), doc.get("expires_at"), doc.get("issued_at")
        if not isinstance(token, str) or not isinstance(issued, (int, float)):
            return None
        if expires is not None and not isinstance(expires, (int, float)):
            return None
        return token, expires, float(issued)

    def write(self, key: str, token: Token, issued_at: float) -> bool:
        """Replace the entry atomically (mode 0600); False, and nothing written, on any problem."""
        expires = token.expires_at.timestamp() if token.expires_at else None
        body = json.dumps(
            {"version": _VERSION, "token": token.value, "expires_at": expires, "issued_at": issued_at}
        ).encode()
        return write_private(self._path(key, ".json"), body)

    @contextlib.asynccontextmanager
    async def locked(self, key: str) -> AsyncIterator[bool]:
        """Hold the key's advisory lock while inside; yields False when it could not be had
        (no lock file, or another process held it past ``lock_timeout``): fetch anyway."""
        try:
            fd = os.open(self._path(key, ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            yield False
            return
        try:
            yield await self._acquire(fd)
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    async def _acquire(self, fd: int) -> bool:
        """Poll for the lock (never a blocking call: the event loop keeps running, and a
        cancelled waiter leaves no thread behind holding the lock)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if loop.time() >= give_up:
                    log.warning(
                        "shared token store: waited %.0f s for another process's fetch", self.lock_timeout
                    )
                    return False
                await asyncio.sleep(_LOCK_POLL)
            except OSError:
                return False


def _private_regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


class SharedTokenSource:
    """A token source that asks the host's ``SharedTokenStore`` before its own ``inner`` source.

    An entry is taken while it is outside the advisory window the provider would give it; one
    the provider saw rejected (the token this source handed out last) is never taken again.
    """

    def __init__(self, inner: TokenSource, store: SharedTokenStore, key: str, *, clock: Clock | None = None):
        self.inner = inner
        self.kind = inner.kind
        self.store = store
        self.key = key
        self._clock = clock or system_clock
        self._last: str | None = None  # the value handed out last: a new fetch means it is done

    def __repr__(self) -> str:
        return f"SharedTokenSource({self.inner!r}, store={self.store!r})"

    def _shared(self) -> Token | None:
        entry = self.store.read(self.key)
        if entry is None:
            return None
        value, expires, issued = entry
        if value == self._last:
            return None
        if expires is not None and self._clock.time() >= _WINDOWS.deadlines(expires, expires - issued)[0]:
            return None
        return Token(value, datetime.fromtimestamp(expires, UTC) if expires is not None else None)

    async def fetch(self) -> Token:
        """The shared token when one is usable; else this process fetches (one at a time per
        key across the host) and shares what it got."""
        token = self._shared() if self.store.usable() else None
        if token is None and self.store.usable():
            async with self.store.locked(self.key):
                token = self._shared()  # another process may have fetched while we waited
                if token is None:
                    issued = self._clock.time()
                    token = await self.inner.fetch()
                    self.store.write(self.key, token, issued)
        if token is None:
            token = await self.inner.fetch()
        self._last = token.value
        return token

    async def aclose(self) -> None:
        """Close the inner source (the store holds nothing open)."""
        await self.inner.aclose()
