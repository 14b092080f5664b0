"""One AWS client pool per event loop for the one-shot ``kom_async.eks.get_token()``.

Building a pool (sessions, credentials, an STS client) costs tens to hundreds of
milliseconds; a kept one mints in microseconds. Each running loop gets its own pool,
owned by a small async generator the loop knows about: ``asyncio.run`` (and every
runner that calls ``loop.shutdown_asyncgens()``) closes it when the loop shuts down.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator

from kom_async.auth.eks.aws import AWSClientPool

# loop -> (pool, the generator that owns it); weak on the loop so a closed loop drops both
_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[AWSClientPool, AsyncGenerator[None]]] = (
    weakref.WeakKeyDictionary()
)


async def _owner(pool: AWSClientPool) -> AsyncGenerator[None]:
    """Suspends until the loop shuts its async generators down, then closes ``pool``."""
    try:
        yield
    finally:
        await pool.aclose()


async def default_pool() -> AWSClientPool:
    """The running loop's shared pool, created (and tied to the loop's shutdown) on first use."""
    loop = asyncio.get_running_loop()
    entry = _POOLS.get(loop)
    if entry is not None and not entry[0].closed:
        return entry[0]
    pool = AWSClientPool()
    owner = _owner(pool)
    await owner.__anext__()  # first iteration: the loop now tracks it and will aclose() it
    _POOLS[loop] = (pool, owner)
    return pool
