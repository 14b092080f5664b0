"""Leaving a port-forward with a connection still open ends quietly: no "Exception in callback"
traceback from asyncio (Python 3.11's start_server calls ``task.exception()`` on the
connection task when it finishes, which raises for a cancelled one)."""

from __future__ import annotations

import asyncio
from typing import Any

from kom_async import Clusters
from kom_async.lab import EKSLab


async def test_closing_a_forward_with_an_open_connection_reports_nothing_to_the_loop(
    eks_lab: EKSLab,
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with Clusters() as clusters:
            k = await clusters.register_eks("lab", "us-east-1", env=eks_lab.aws_env)
            async with k.pod("web-0", "demo").port_forward(8080) as port:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"still open when the block ends")
                assert await reader.readexactly(30) == b"still open when the block ends"
            writer.close()
            await writer.wait_closed()
            for _ in range(5):  # let the connection task's done-callbacks run
                await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("message") for c in reported] == []
