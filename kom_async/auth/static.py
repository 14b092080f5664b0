"""Token sources for kubeconfigs with a fixed token or a token file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.token import Token
from kom_async.config.readfile import TOKEN_MAX, read_file
from kom_async.errors import KubeconfigError


class StaticTokenSource:
    """A token written in the kubeconfig: never expires, cannot be renewed."""

    kind = "static"

    def __init__(self, value: str) -> None:
        self._token = Token(value)

    def __repr__(self) -> str:
        return "StaticTokenSource(<redacted>)"

    async def fetch(self) -> Token:
        return self._token

    async def aclose(self) -> None:
        return None


class FileTokenSource:
    """A ``tokenFile``: re-read on every fetch, i.e. at registration and after a 401,
    so a rotated projected service-account token is picked up.

    With ``recheck`` (seconds), each token is given that lifetime, so the provider's refresh
    looks at the file again that often (client-go re-reads a service account token every
    minute); the file is read again only when it changed (inode, size or mtime).
    """

    kind = "token-file"

    def __init__(
        self,
        path: str,
        *,
        recheck: float | None = None,
        clock: Clock | None = None,
        allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
    ) -> None:
        self.path = Path(path)
        self._recheck = recheck
        self._allowed_dirs = allowed_dirs
        self._clock = clock or system_clock
        self._seen: tuple[int, int, int] | None = None
        self._value = ""

    def __repr__(self) -> str:
        return f"FileTokenSource({str(self.path)!r})"

    async def fetch(self) -> Token:
        try:
            st = os.stat(self.path)
            if self._recheck is None or (st.st_ino, st.st_size, st.st_mtime_ns) != self._seen:
                data = await asyncio.to_thread(self._read)
                self._value, self._seen = (
                    data.decode("utf-8").strip(),
                    (st.st_ino, st.st_size, st.st_mtime_ns),
                )
        except OSError as exc:
            raise KubeconfigError(f"cannot read token file {str(self.path)!r}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise KubeconfigError(f"token file {str(self.path)!r} is not UTF-8 text") from None
        if not self._value:
            self._seen = None
            raise KubeconfigError(f"token file {str(self.path)!r} is empty")
        if not self._value.isprintable():  # it becomes an HTTP header: no line breaks inside
            self._seen = None
            raise KubeconfigError(f"token file {str(self.path)!r} holds control characters inside the token")
        if self._recheck is None:
            return Token(self._value)
        return Token(self._value, self._clock.now() + timedelta(seconds=self._recheck))

    def _read(self) -> bytes:
        """Every read, the first and each after a 401 or a recheck, goes through the bounded reader."""
        return read_file(self.path, limit=TOKEN_MAX, allowed_dirs=self._allowed_dirs, what="tokenFile")

    async def aclose(self) -> None:
        return None
