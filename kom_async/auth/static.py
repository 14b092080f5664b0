"""Token sources for kubeconfigs with a fixed token or a token file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kom_async.auth.token import Token
from kom_async.errors import KubeconfigError

__all__ = ["FileTokenSource", "StaticTokenSource"]


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
    so a rotated projected service-account token is picked up."""

    kind = "token-file"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileTokenSource({str(self.path)!r})"

    async def fetch(self) -> Token:
        try:
            text = await asyncio.to_thread(self.path.read_text, "utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KubeconfigError(f"cannot read token file {str(self.path)!r}: {exc}") from None
        value = text.strip()
        if not value:
            raise KubeconfigError(f"token file {str(self.path)!r} is empty")
        return Token(value)

    async def aclose(self) -> None:
        return None
