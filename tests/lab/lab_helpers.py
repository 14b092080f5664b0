"""Helpers for the lab's tests: an HTTPS client for a lab cluster, a subprocess runner."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
from typing import Any

import aiohttp
import pytest
from childproc import communicate

from kom_async.lab import LabCluster

AWS = shutil.which("aws")
KUBECTL = shutil.which("kubectl")
needs_aws = pytest.mark.skipif(AWS is None, reason="the AWS CLI (aws) is not installed")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


class LabAPI:
    """A tiny HTTPS client for one lab cluster: ``status, body = await api.get(path)``."""

    def __init__(self, session: aiohttp.ClientSession, cluster: LabCluster, token: str) -> None:
        self.session = session
        self.cluster = cluster
        self.token = token
        self.ssl = ssl.create_default_context(cadata=cluster.ca_pem)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        data = None
        if body is not None:
            data = body if isinstance(body, (str, bytes)) else json.dumps(body)
            hdrs["Content-Type"] = content_type
        async with self.session.request(
            method, self.cluster.server + path, data=data, params=params, headers=hdrs, ssl=self.ssl
        ) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.request("POST", path, body=body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.request("PUT", path, body=body, **kw)

    async def patch(self, path: str, body: Any, content_type: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("PATCH", path, body=body, content_type=content_type, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("DELETE", path, **kw)


async def run(*cmd: str, env: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, str, str]:
    """Run a command without blocking the loop the lab serves on; return rc, stdout, stderr."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBECONFIG"))}
    full_env = {**inherited, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await communicate(proc, timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def pod(name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.27") -> dict[str, Any]:
    """A minimal Pod body."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def stream_url(api: LabAPI, path: str, params: list[tuple[str, str]]) -> str:
    """An absolute URL with repeated query parameters (``command=`` may repeat)."""
    from urllib.parse import urlencode

    return f"{api.cluster.server}{path}?{urlencode(params)}"


async def ws_open(
    api: LabAPI,
    path: str,
    params: list[tuple[str, str]],
    protocols: tuple[str, ...] = ("v5.channel.k8s.io", "v4.channel.k8s.io"),
    token: str | None = None,
) -> aiohttp.ClientWebSocketResponse:
    """Open a WebSocket to a lab cluster path, as a Kubernetes client does (bearer token, subprotocols)."""
    return await api.session.ws_connect(
        stream_url(api, path, params),
        protocols=protocols,
        headers={"Authorization": f"Bearer {token or api.token}"},
        ssl=api.ssl,
        max_msg_size=0,
    )


async def read_exec(ws: aiohttp.ClientWebSocketResponse) -> tuple[bytes, bytes, dict[str, Any] | None, list[int]]:
    """Read an exec stream to its end: stdout, stderr, the status from channel 3, channels seen."""
    out, err, status, seen = b"", b"", None, []
    async for msg in ws:
        assert msg.type == aiohttp.WSMsgType.BINARY, msg
        channel, data = msg.data[0], msg.data[1:]
        seen.append(channel)
        if channel == 1:
            out += data
        elif channel == 2:
            err += data
        elif channel == 3:
            status = json.loads(data)
    return out, err, status, seen
