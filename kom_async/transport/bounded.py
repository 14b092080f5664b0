"""Reads of what an API server sends that stop at a ``Limits`` size, before the bytes are held.

Every body, error body and watch line kom-async reads goes through here, so one hostile or
broken server cannot grow this process by more than the cluster's limits: a declared
``Content-Length`` over the limit is refused before reading, a chunked body as soon as it
passes it. The errors are :class:`~kom_async.errors.ResponseTooLarge`.
"""

from __future__ import annotations

import aiohttp
from aiohttp.http_exceptions import LineTooLong

from kom_async.config.limits import ERROR_BODY_READ, Limits
from kom_async.errors import ResponseTooLarge

_CHUNK = 256 * 1024


def too_large(limit: str, size: int, what: str, hint: str = "") -> ResponseTooLarge:
    """The error for ``what`` passing ``Limits.<limit>`` (``size`` bytes), with how to fix it."""
    return ResponseTooLarge(
        f"the API server sent more than {size:,} bytes for {what} (Limits.{limit}); "
        + (f"{hint}, or " if hint else "")
        + f"raise the limit for this cluster: register it with limits=Limits(...).replace({limit}=...)"
        " or pass Clusters(limits=...)",
        limit=limit,
        size=size,
    )


def declared_length(response: aiohttp.ClientResponse) -> int | None:
    """The ``Content-Length`` the server declared, if any (and sane)."""
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


async def read_body(
    response: aiohttp.ClientResponse, limits: Limits, what: str, *, limit: str = "max_body", hint: str = ""
) -> bytes:
    """The whole body of ``response`` if it fits ``limits.<limit>``; released either way."""
    cap: int = getattr(limits, limit)
    try:
        declared = declared_length(response)
        if declared is not None and declared > cap:
            raise too_large(limit, cap, what, hint)
        data = bytearray()
        while chunk := await response.content.read(_CHUNK):
            data += chunk
            if len(data) > cap:
                raise too_large(limit, cap, what, hint)
        return bytes(data)
    except BaseException:
        response.close()  # the rest is never read: drop the connection, not just the response
        raise
    finally:
        response.release()


async def read_error_body(response: aiohttp.ClientResponse) -> tuple[bytes, int | None]:
    """The first ``ERROR_BODY_READ`` bytes of a refusal, and the body's whole size if known
    (declared); the rest is never read. Released."""
    try:
        data = bytearray()
        while len(data) < ERROR_BODY_READ and (chunk := await response.content.read(_CHUNK)):
            data += chunk
        if len(data) > ERROR_BODY_READ or not response.content.at_eof():
            response.close()
        return bytes(data[:ERROR_BODY_READ]), declared_length(response)
    finally:
        response.release()


async def read_line(content: aiohttp.StreamReader, limits: Limits, what: str) -> bytes:
    """One line of a stream (a watch event), at most ``limits.max_watch_line`` bytes."""
    try:
        return await content.readuntil(b"\n", max_size=limits.max_watch_line)
    except LineTooLong:
        raise too_large("max_watch_line", limits.max_watch_line, what) from None


def quote(text: str, limit: int, *, unread: int = 0, cut: bool = False) -> str:
    """``text`` up to ``limit`` characters, then how much was left out: ``…(N bytes more)``.

    ``unread`` counts bytes of the body that were never read; ``cut`` says that more was left
    unread than is known (no declared length), so N is a lower bound."""
    if len(text) <= limit and not unread and not cut:
        return text
    more = len(text[limit:].encode()) + unread
    return text[:limit] + (f"…(at least {more:,} bytes more)" if cut else f"…({more:,} bytes more)")
