"""Run an ``EKSLab`` in a child process, so a benchmark's client does not share its CPU time.

``python -m benchmarks.labproc NAME...`` starts the lab on 127.0.0.1, creates the clusters,
prints one JSON line (per cluster: the EKS exec kubeconfig and a static-token kubeconfig),
and stops everything when its stdin closes. ``LabProcess`` is the parent's handle.
"""

from __future__ import annotations

import asyncio
import json
import sys
from types import TracebackType
from typing import Any

from kom_async.lab import EKSLab

__all__ = ["LabProcess"]


async def _serve(names: list[str]) -> None:
    async with EKSLab() as lab:
        info: dict[str, Any] = {"region": lab.region, "aws_env": lab.aws_env, "clusters": {}}
        for name in names:
            await lab.create_cluster(name)
            info["clusters"][name] = {
                "eks_kubeconfig": lab.kubeconfig(name),
                "static_kubeconfig": lab.kubeconfig(name, static_token=True),
            }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # EOF: the parent is done


class LabProcess:
    """``async with LabProcess(["c1"]) as lab:`` — ``lab.info`` has kubeconfigs and AWS env."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.info: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> LabProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.labproc",
            *self.names,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), 60)
            if not line:
                raise RuntimeError("the lab process exited before it was ready")
            self.info = json.loads(line)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1:]))
