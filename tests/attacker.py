"""A listener on 127.0.0.1 standing in for the attacker: it records every connection and every
byte it receives, so a test can assert that nothing (no file, no token, no request) arrived."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

import trustme
import yaml


class Attacker:
    """``async with Attacker.listening(tls=True) as evil:`` then point a kubeconfig at ``evil.url``.

    With ``tls`` it serves a certificate for 127.0.0.1 from its own CA (``ca_data``, what an
    attacker would put in the kubeconfig), so a client that trusts that CA talks to it happily.
    It answers every request 401, or, with ``redirect`` set, 302 to that URL.
    """

    def __init__(self, tls: bool, client_ca: trustme.CA | None = None) -> None:
        self.tls = tls
        self.client_ca = client_ca
        self.redirect: str | None = None
        self.connections = 0
        self.received = bytearray()
        #: subjects of the client certificates presented to it (asked for with ``client_ca``)
        self.client_certs: list[object] = []
        self._ca = trustme.CA(organization_name="attacker")
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def listening(
        cls, *, tls: bool = False, client_ca: trustme.CA | None = None
    ) -> AsyncIterator[Attacker]:
        """``client_ca``: ask every TLS client for a certificate (accepting those of that CA)."""
        attacker = cls(tls, client_ca)
        server = await asyncio.start_server(attacker._accept, "127.0.0.1", 0)
        attacker.port = server.sockets[0].getsockname()[1]
        try:
            yield attacker
        finally:
            server.close()
            for task in list(attacker._tasks):
                task.cancel()
            await asyncio.gather(*attacker._tasks, return_exceptions=True)
            await server.wait_closed()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_data(self) -> str:
        """The attacker CA, base64 as in certificate-authority-data."""
        return base64.b64encode(self._ca.cert_pem.bytes()).decode()

    def assert_received_nothing(self, *secrets: str) -> None:
        """No connection at all (and so none of ``secrets``)."""
        text = self.received.decode("latin-1")
        for secret in secrets:
            assert secret not in text, "the attacker received a secret"
        assert not self.client_certs, f"a client certificate was presented: {self.client_certs}"
        assert self.connections == 0 and not self.received, (
            f"the attacker got {self.connections} connection(s): {text[:300]!r}"
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            if self.tls:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
                if self.client_ca is not None:
                    context.verify_mode = ssl.CERT_OPTIONAL
                    self.client_ca.configure_trust(context)
                await writer.start_tls(context)
                peer = writer.get_extra_info("peercert")
                if peer:
                    self.client_certs.append(peer.get("subject"))
            while chunk := await asyncio.wait_for(reader.read(65536), 5):
                self.received.extend(chunk)
                if b"\r\n\r\n" in self.received:
                    status = (
                        f"302 Found\r\nLocation: {self.redirect}" if self.redirect else "401 Unauthorized"
                    )
                    writer.write(
                        f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
                    )
                    await writer.drain()
                    break
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)


def hostile_kubeconfig(
    server: str, user: dict[str, Any], ca_data: str | None = None, name: str = "tenant"
) -> str:
    """A one-context kubeconfig for ``server`` with the given user entry, as a tenant or an MCP
    client would hand it over (``ca_data``: the attacker's own CA, base64)."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data is not None:
        cluster["certificate-authority-data"] = ca_data
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": user}],
        }
    )
