"""Pod log streams: ``await`` one for the text, ``async for`` it for lines (``follow=True``:
as the container writes them). Breaking out, cancelling or ``aclose()`` closes the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any

import aiohttp

from kom_async.errors import QueryError
from kom_async.transport.bounded import too_large
from kom_async.transport.rest import QueryParams, RestClient, Target, encode_query

_MAX_LINE = 1024 * 1024  # a log "line" longer than this is handed out in pieces
_TAIL_CHUNK = 256 * 1024


def log_params(
    container: str | None,
    tail_lines: int | None,
    since_seconds: int | None,
    previous: bool,
    timestamps: bool,
    follow: bool,
) -> QueryParams:
    """The ``pods/log`` query; QueryError for a negative or non-int count."""
    for label, value in (("tail_lines", tail_lines), ("since_seconds", since_seconds)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise QueryError(f"logs(): {label} must be an int >= 0, got {value!r}")
    return encode_query(
        {
            "container": container,
            "tailLines": tail_lines,
            "sinceSeconds": since_seconds,
            "previous": previous or None,
            "timestamps": timestamps or None,
            "follow": follow or None,
        }
    )


class LogStream:
    """A pod's log: ``await`` it for the text, or ``async for line in`` it for lines.

    With ``follow=True`` lines arrive as the container writes them until the container
    ends or you stop: ``break``, cancelling the task or ``aclose()`` closes the response.
    """

    def __init__(
        self,
        rest: RestClient,
        where: Callable[[], Awaitable[tuple[str, Target]]],
        params: QueryParams,
        *,
        follow: bool,
    ) -> None:
        self._rest = rest
        self._where = where  # the log's path and target, resolved when first read
        self._params = params
        self._follow = follow
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = bytearray()
        self._closed = False

    def __await__(self) -> Generator[Any, None, str]:
        if self._follow:
            raise QueryError("logs(follow=True) never ends: read it with 'async for line in ...'")
        return self._text().__await__()

    async def _text(self) -> str:
        path, target = await self._where()
        return await self._rest.text(path, target=target, query=self._params)

    async def tail(self, max_bytes: int) -> tuple[str, bool]:
        """The last ``max_bytes`` bytes of the log, and whether older text was left out.

        The log is read as it arrives and only its tail is kept, so this holds at most about
        ``2 * max_bytes`` however long the log is; a log longer than the cluster's
        ``Limits.max_log`` raises ``ResponseTooLarge`` (narrow it with ``tail_lines`` or
        ``since_seconds``)."""
        if self._follow:
            raise QueryError("logs(follow=True) never ends: read it with 'async for line in ...'")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise QueryError(f"tail(): max_bytes must be a positive int, got {max_bytes!r}")
        limits = self._rest.limits
        response = await self._open()
        kept, total = bytearray(), 0
        try:
            while chunk := await response.content.read(_TAIL_CHUNK):
                total += len(chunk)
                if total > limits.max_log:
                    hint = "ask for less with tail_lines= or since_seconds="
                    raise too_large("max_log", limits.max_log, f"the log at {response.url.path}", hint)
                kept += chunk
                if len(kept) > 2 * max_bytes:
                    del kept[: len(kept) - max_bytes]
        finally:
            response.close()
        cut = len(kept) > max_bytes
        text = bytes(kept[-max_bytes:]).decode(response.charset or "utf-8", "replace")
        return text, cut or total > len(kept)

    async def _open(self) -> aiohttp.ClientResponse:
        path, target = await self._where()
        return await self._rest.open("GET", path, target=target, query=self._params, accept="*/*")

    def __aiter__(self) -> LogStream:
        return self

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        try:
            if self._response is None:
                self._response = await self._open()
            line = await self._next_line(self._response)
        except BaseException:  # cancelled, or the connection broke: the stream is over
            await self.aclose()
            raise
        if line is None:
            await self.aclose()
            raise StopAsyncIteration
        return line

    async def __aenter__(self) -> LogStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and close the response; idempotent."""
        self._closed = True
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def __del__(self) -> None:  # a plain `break` out of `async for` leaves it to us
        response = self._response
        if response is not None:
            response.close()

    async def _next_line(self, response: aiohttp.ClientResponse) -> str | None:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0 or len(self._buffer) >= _MAX_LINE:
                cut = end if end >= 0 else _MAX_LINE
                line = bytes(self._buffer[:cut])
                del self._buffer[: cut + (1 if end >= 0 else 0)]
                return line.decode("utf-8", "replace")
            chunk = await response.content.readany()
            if not chunk:
                if not self._buffer:
                    return None
                line = bytes(self._buffer)
                self._buffer.clear()
                return line.decode("utf-8", "replace")
            self._buffer += chunk
