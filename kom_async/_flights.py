"""Registrations in flight: each runs in its caller's task, and closing the registry cancels
them all and waits until each has cleaned up (it then raises ``RegistryClosed``)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kom_async.errors import RegistryClosed

T = TypeVar("T")


@dataclass
class _Flight:
    """A registration in flight: whether ``close()`` cancelled it, and when it has ended."""

    cancelled: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Flights:
    """The registrations of one registry that are running now, and whether it is closed."""

    def __init__(self) -> None:
        self._running: dict[asyncio.Task[Any], _Flight] = {}
        self.closed = False

    async def run(self, registration: Coroutine[Any, Any, T]) -> T:
        """Run ``registration`` so that ``close()`` can cancel it; it then raises
        ``RegistryClosed`` after its own cleanup, and nothing it made stays registered."""
        task = asyncio.current_task()
        if self.closed or task is None:
            registration.close()
            raise RegistryClosed(
                "this Clusters registry is closed; register clusters in a new one"
                if self.closed
                else "register_* must run inside an asyncio task"
            )
        flight = self._running[task] = _Flight()
        try:
            result = await registration
        except asyncio.CancelledError:
            if not flight.cancelled or task.uncancel() > 0:
                raise  # someone else's cancellation
            raise RegistryClosed(
                "the registration was cancelled because the registry was closed; nothing was registered"
            ) from None
        finally:
            del self._running[task]
            flight.done.set()
        if flight.cancelled:  # finished despite the cancel (a cleanup step absorbed it)
            task.uncancel()
            raise RegistryClosed("the registry was closed as this registration finished; it is closed too")
        return result

    async def close(self) -> None:
        """Refuse later registrations; cancel those in flight (but the caller's own) and wait
        until each has cleaned up what it had made."""
        self.closed = True
        me = asyncio.current_task()
        flights = [(t, f) for t, f in self._running.items() if t is not me]
        for task, flight in flights:
            flight.cancelled = True
            task.cancel()
        for _, flight in flights:
            await flight.done.wait()
