"""``PodQuery``: what ``kubectl.pod(name, namespace)`` returns, a query with the pod-only verbs.

Like kubectl, exec and port-forward read the pod first: a missing pod is a NotFound with the
server's message, a finished pod or an unknown container a QueryError, all before any
WebSocket is opened; without ``container`` the pod's default container is used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from kom_async.errors import ExecTimeout, QueryError
from kom_async.kubectl import pod_exec
from kom_async.kubectl._constants import Obj
from kom_async.kubectl.pod_exec import ExecResult, ExecSession
from kom_async.kubectl.port_forward import PROTOCOLS as FORWARD_PROTOCOLS
from kom_async.kubectl.port_forward import PortForward
from kom_async.kubectl.query import Query
from kom_async.transport import ws as websocket
from kom_async.transport.rest import Target

_DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


@dataclass(frozen=True, slots=True)
class PodQuery(Query[Obj]):
    """One pod: everything a :class:`Query` does, plus ``exec``, ``exec_stream`` and
    ``port_forward`` over the Kubernetes WebSocket protocols."""

    async def exec(
        self,
        command: Sequence[str],
        *,
        stdin: bytes | str | None = None,
        container: str | None = None,
        timeout: float | None = None,
        max_output: int | None = None,
    ) -> ExecResult:
        """Run ``command`` in the pod (``kubectl exec``): its stdout, stderr and exit code.

        ``stdin`` is sent, then closed. A non-zero exit is a result, not an error; a
        command that cannot start raises ExecError; ``timeout`` bounds the whole run
        (ExecTimeout, also a TimeoutError); stdout plus stderr beyond ``max_output`` bytes
        (default: the cluster's ``Limits.max_exec_output``) raise ResponseTooLarge.
        """
        if stdin is not None and not isinstance(stdin, (bytes, bytearray, str)):
            raise QueryError("exec(stdin=...) takes bytes, str or None")
        if timeout is not None and timeout <= 0:
            raise QueryError("exec(timeout=...) must be positive seconds, or None")
        try:
            async with asyncio.timeout(timeout):
                streaming = self.exec_stream(
                    command, stdin=stdin is not None, container=container, max_output=max_output
                )
                async with streaming as proc:
                    if stdin is None:
                        code = await proc.wait()
                    else:  # feed stdin while reading, so a command that echoes cannot block on us
                        feeder = asyncio.create_task(_feed(proc, stdin))
                        try:
                            code = await proc.wait()
                        finally:
                            feeder.cancel()
                            await asyncio.gather(feeder, return_exceptions=True)
                    return ExecResult(proc.drain(pod_exec.STDOUT), proc.drain(pod_exec.STDERR), code)
        except TimeoutError:
            raise ExecTimeout(f"exec in pod {self._name!r} did not finish within {timeout} s") from None

    @contextlib.asynccontextmanager
    async def exec_stream(
        self,
        command: Sequence[str],
        *,
        stdin: bool = False,
        container: str | None = None,
        max_output: int | None = None,
    ) -> AsyncIterator[ExecSession]:
        """``async with pod.exec_stream([...], stdin=True) as proc:`` a live command.

        ``proc.write()``/``close_stdin()`` feed stdin, ``proc.stdout``/``proc.stderr`` are
        async iterators of bytes, ``await proc.wait()`` returns the exit code. Leaving the
        block closes the connection. Output received and not yet read is held up to
        ``max_output`` bytes (default: the cluster's ``Limits.max_exec_output``).
        """
        argv = pod_exec.check_command(command)
        if max_output is None:
            max_output = self._rest.limits.max_exec_output
        elif isinstance(max_output, bool) or not isinstance(max_output, int) or max_output < 1:
            raise QueryError(f"exec(max_output=...) must be a positive number of bytes, got {max_output!r}")
        pod, path, target = await self._read_pod("exec")
        _require_phase(pod, "exec into", ("Pending", "Running"))
        query = [("command", arg) for arg in argv]
        query += [("container", _container(pod, container)), ("stdout", "true"), ("stderr", "true")]
        if stdin:
            query.append(("stdin", "true"))
        socket = await websocket.connect(
            self._ctx.api_client,
            path + "/exec",
            query=query,
            protocols=pod_exec.PROTOCOLS,
            target=target,
            timeout=self._rest.timeout,
        )
        async with ExecSession(socket, target, stdin=stdin, max_output=max_output) as session:
            yield session

    @contextlib.asynccontextmanager
    async def port_forward(self, port: int, *, local_port: int = 0) -> AsyncIterator[int]:
        """Forward 127.0.0.1:``local_port`` (0: a free one) to the pod's ``port`` while the
        block runs; yields the local port. Each local connection gets its own stream."""
        for label, value, low in (("port", port, 1), ("local_port", local_port, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
                raise QueryError(f"port_forward(): {label} must be an int from {low} to 65535, got {value!r}")
        pod, path, target = await self._read_pod("port_forward")
        _require_phase(pod, "forward a port of", ("Running",))
        api_client, timeout = self._ctx.api_client, self._rest.timeout

        async def connect() -> aiohttp.ClientWebSocketResponse:
            return await websocket.connect(
                api_client,
                path + "/portforward",
                query=[("ports", str(port))],
                protocols=FORWARD_PROTOCOLS,
                target=target,
                timeout=timeout,
            )

        what = f"{target.namespace}/{target.name}"
        async with PortForward(connect, remote_port=port, local_port=local_port, what=what) as local:
            yield local

    async def _read_pod(self, verb: str) -> tuple[Obj, str, Target]:
        """The pod itself, its API path and the request target."""
        self._require_name(verb)
        info = await self._resolve()
        self._require_kind(info, verb, ("Pod",))
        namespace = self._object_namespace(info, None, verb)
        target = self._target(info, namespace)
        path = info.path(namespace, self._name)
        pod = await self._rest.json("GET", path, target=target)
        return (pod if isinstance(pod, dict) else {}), path, target


async def _feed(proc: ExecSession, data: bytes | bytearray | str) -> None:
    await proc.write(bytes(data) if isinstance(data, bytearray) else data)
    await proc.close_stdin()


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _container(pod: Obj, container: str | None) -> str:
    """``container`` if the pod has it, else the pod's default container (as kubectl picks)."""
    spec = _mapping(pod.get("spec"))
    meta = _mapping(pod.get("metadata"))
    names = [
        str(c.get("name"))
        for key in ("containers", "initContainers", "ephemeralContainers")
        for c in spec.get(key) or []
        if isinstance(c, dict) and c.get("name")
    ]
    if container is not None:
        if not isinstance(container, str) or container not in names:
            has = ", ".join(names) or "none"
            raise QueryError(f"container {container!r} is not in pod {meta.get('name')!r}; it has: {has}")
        return container
    default = _mapping(meta.get("annotations")).get(_DEFAULT_CONTAINER)
    if default in names:
        return str(default)
    main = [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)]
    if not main:
        raise QueryError(f"pod {meta.get('name')!r} has no containers")
    return main[0]


def _require_phase(pod: Obj, verb: str, allowed: tuple[str, ...]) -> None:
    phase = _mapping(pod.get("status")).get("phase")
    if phase and phase not in allowed:
        name = _mapping(pod.get("metadata")).get("name")
        raise QueryError(f"cannot {verb} pod {name!r}: its phase is {phase}, not {' or '.join(allowed)}")
