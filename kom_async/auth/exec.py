"""Exec credential plugins: run the kubeconfig's command as client-go does and read its token.

No shell; stdout and stderr are read concurrently with size caps; a timeout kills the whole
process group and reaps it, so a hung or flooding plugin can neither block nor leak.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
import signal
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.token import Token
from kom_async.config.kubeconfig import ExecConfig
from kom_async.config.readfile import PEM_MAX, read_file
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, ExecPluginError, KomError, KubeconfigError
from kom_async.scrub import REDACTED, scrub

log = logging.getLogger("kom_async.auth")

MAX_STDOUT = 1024 * 1024  # an ExecCredential is a few KB; more is a broken plugin
STDERR_TAIL = 16 * 1024  # keep only the end of stderr for error messages
MAX_EXEC_INFO_BYTES = 64 * 1024  # KUBERNETES_EXEC_INFO: cluster info is a few KB
_EXCERPT = 400
_SECRET_ENV_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE", re.IGNORECASE)


def _redact_env(text: str, env: Mapping[str, str]) -> str:
    """Remove the values of the plugin's secret-looking env vars (a plugin may echo them)."""
    for name, value in env.items():
        if len(value) >= 8 and _SECRET_ENV_NAME.search(name) and value in text:
            text = text.replace(value, REDACTED)
    return text


def exec_info(config: ExecConfig, cluster_info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``KUBERNETES_EXEC_INFO`` document client-go passes to a plugin."""
    spec: dict[str, Any] = {"interactive": False}
    if config.provide_cluster_info and cluster_info is not None:
        cluster: dict[str, Any] = {"server": cluster_info.get("server", "")}
        for key in ("tls-server-name", "insecure-skip-tls-verify", "proxy-url", "disable-compression"):
            if cluster_info.get(key) not in (None, "", False):
                cluster[key] = cluster_info[key]
        if cluster_info.get("certificate-authority-data"):
            cluster["certificate-authority-data"] = cluster_info["certificate-authority-data"]
        elif cluster_info.get("certificate-authority"):
            with contextlib.suppress(OSError):
                ca = read_file(
                    str(cluster_info["certificate-authority"]), limit=PEM_MAX, what="certificate-authority"
                )
                cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
        extensions = cluster_info.get("extensions")
        if isinstance(extensions, list):
            for ext in extensions:
                if isinstance(ext, Mapping) and ext.get("name") == "client.authentication.k8s.io/exec":
                    cluster["config"] = ext.get("extension")
        spec["cluster"] = cluster
    return {"kind": "ExecCredential", "apiVersion": config.api_version, "spec": spec}


def parse_exec_credential(
    stdout: bytes, *, api_version: str, clock: Clock = system_clock
) -> tuple[Token, None] | tuple[None, str]:
    """Parse a plugin's stdout into a Token, or return a human reason it is unusable."""
    try:
        doc = json.loads(stdout)
    except (ValueError, RecursionError):
        return None, "its output is not JSON"
    if not isinstance(doc, dict):
        return None, "its output is not a JSON object"
    if doc.get("kind") != "ExecCredential":
        return None, f"its output has kind {str(doc.get('kind'))[:40]!r}, expected 'ExecCredential'"
    if doc.get("apiVersion") != api_version:
        return None, (
            f"its output has apiVersion {str(doc.get('apiVersion'))[:60]!r}, "
            f"expected {api_version!r} (the kubeconfig's exec apiVersion)"
        )
    status = doc.get("status")
    if not isinstance(status, dict):
        return None, "its output has no status object"
    token = status.get("token")
    if not isinstance(token, str) or not token.strip():
        if status.get("clientCertificateData"):
            return None, "it returned a client certificate; only token credentials are supported"
        return None, "its output has no status.token"
    if any(c in token for c in "\r\n\x00"):
        return None, "status.token contains control characters"
    raw_exp = status.get("expirationTimestamp")
    expires_at: datetime | None = None
    if raw_exp is not None:
        if not isinstance(raw_exp, str):
            return None, "status.expirationTimestamp is not a string"
        expires_at = _parse_rfc3339(raw_exp)
        if expires_at is None:
            return None, f"status.expirationTimestamp {raw_exp[:40]!r} is not an RFC 3339 time"
        if expires_at <= clock.now():
            return None, f"it returned a token that already expired at {expires_at.isoformat()}"
    return Token(token.strip(), expires_at), None


def _parse_rfc3339(value: str) -> datetime | None:
    text = value.strip()
    if len(text) > 40 or "T" not in text.upper():
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


class ExecTokenSource:
    """Fetch tokens by running an exec credential plugin (``aws eks get-token`` or any other)."""

    kind = "exec"

    def __init__(
        self,
        config: ExecConfig,
        *,
        cluster_info: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        eks: bool = False,
        cluster_id: str = "",
        clock: Clock | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("exec timeout must be positive")
        if config.interactive_mode == "Always":
            raise self._error_for(
                config,
                eks,
                cluster_id,
                "it requires an interactive terminal (interactiveMode: Always), "
                "which kom-async never provides",
            )
        self.config = config
        self.timeout = timeout
        self.eks = eks
        self.cluster_id = cluster_id
        self._clock = clock or system_clock
        self._info = json.dumps(exec_info(config, cluster_info))
        if len(self._info) > MAX_EXEC_INFO_BYTES:  # the OS refuses one env value over 128 KiB anyway
            raise KubeconfigError(
                f"the exec plugin's input (KUBERNETES_EXEC_INFO, with provideClusterInfo) would be "
                f"{len(self._info)} bytes, more than {MAX_EXEC_INFO_BYTES}; shorten the cluster's "
                "extensions or set provideClusterInfo: false",
                field="clusters[].cluster.extensions",
            )
        self._procs: set[asyncio.subprocess.Process] = set()

    def __repr__(self) -> str:
        return f"ExecTokenSource(command={self.config.command!r}, timeout={self.timeout})"

    async def fetch(self) -> Token:
        env = {**os.environ, **self.config.env, "KUBERNETES_EXEC_INFO": self._info}
        try:
            proc = await asyncio.create_subprocess_exec(
                self.config.command,
                *self.config.args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group, so a timeout kills children too
            )
        except FileNotFoundError:
            # client-go adds the installHint to this failure only: the plugin is not installed
            if os.sep in self.config.command:
                missing = f"the executable {self.config.command!r} does not exist"
            else:
                missing = "the command was not found on PATH"
            raise self._fail(missing, hint=True) from None
        except PermissionError:
            raise self._fail("the command is not executable") from None
        except OSError as exc:
            raise self._fail(f"it could not be started ({exc.strerror})") from None
        except ValueError:  # NUL in command/args/env, '=' in an env name
            raise self._fail("it could not be started (invalid characters in command, args or env)") from None
        self._procs.add(proc)
        try:
            try:
                with anyio.fail_after(self.timeout):
                    stdout, stderr_tail, overflow, code = await self._communicate(proc)
            except TimeoutError:
                raise self._fail(f"it did not finish within {self.timeout:g} s and was killed") from None
        finally:
            await _kill_and_reap(proc)  # also on success: children it left behind go with it
            self._procs.discard(proc)
        stderr_text = scrub(_redact_env(stderr_tail.decode("utf-8", "replace"), env))
        if code != 0:
            raise self._fail(f"it exited with code {code}", code=code, stderr=stderr_text)
        if overflow:
            raise self._fail(f"it wrote more than {MAX_STDOUT} bytes to stdout", code=code)
        token, reason = parse_exec_credential(stdout, api_version=self.config.api_version, clock=self._clock)
        if token is None:
            raise self._fail(f"it returned an unusable credential: {reason}", stderr=stderr_text)
        return token

    async def _communicate(self, proc: asyncio.subprocess.Process) -> tuple[bytes, bytes, bool, int]:
        """Read stdout and stderr to their end and wait for the exit code.

        When the plugin exits, whatever it left in its process group is killed at once: a
        lingering child holding the pipes would otherwise keep them open (and us waiting).
        """
        assert proc.stdout is not None and proc.stderr is not None
        out = bytearray()
        err = bytearray()
        overflow = False

        async def read_stdout() -> None:
            nonlocal overflow
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                if len(out) + len(chunk) > MAX_STDOUT:
                    overflow = True  # keep draining so the plugin is not blocked on a full pipe
                else:
                    out.extend(chunk)

        async def read_stderr() -> None:
            assert proc.stderr is not None
            while chunk := await proc.stderr.read(65536):
                err.extend(chunk)
                if len(err) > STDERR_TAIL:
                    del err[: len(err) - STDERR_TAIL]

        async def kill_group_on_exit() -> None:
            await _exited(proc)
            _kill_group(proc.pid)  # what it wrote stays in the pipes; leftover writers go

        # both pipes at once (a plugin blocked on a full stderr never finishes its stdout);
        # if one read fails, the task group cancels the others
        async with anyio.create_task_group() as group:
            group.start_soon(read_stdout)
            group.start_soon(read_stderr)
            group.start_soon(kill_group_on_exit)
        return bytes(out), bytes(err), overflow, await proc.wait()

    def _fail(
        self, what: str, *, code: int | None = None, stderr: str | None = None, hint: bool = False
    ) -> KomError:
        excerpt = ""
        if stderr and stderr.strip():
            text = " ".join(stderr.split())
            excerpt = f"; stderr: {text[-_EXCERPT:]}"
        return self._error_for(
            self.config, self.eks, self.cluster_id, what + excerpt, code=code, stderr=stderr, hint=hint
        )

    @staticmethod
    def _error_for(
        config: ExecConfig,
        eks: bool,
        cluster_id: str,
        what: str,
        *,
        code: int | None = None,
        stderr: str | None = None,
        hint: bool = False,
    ) -> KomError:
        install = f". {config.install_hint.strip()}" if hint and config.install_hint else ""
        message = scrub(f"exec plugin {os.path.basename(config.command)!r} failed: {what}{install}")
        if eks:
            return EKSAuthError(EKSAuthErrorKind.ExecFailed, message, cluster_id=cluster_id or None)
        where = f"cluster {cluster_id!r}: " if cluster_id else ""
        return ExecPluginError(where + message, command=config.command, exit_code=code, stderr=stderr)

    async def aclose(self) -> None:
        for proc in list(self._procs):
            await _kill_and_reap(proc)
        self._procs.clear()


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Return once the plugin process itself has exited.

    ``Process.wait()`` (Python 3.11) also waits for the pipes to close, which a lingering child
    can hold forever; a pidfd becomes readable at the exit itself.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:  # exited and reaped already
        return
    except (AttributeError, OSError):  # no pidfd here: the timeout ends a lingering child
        await proc.wait()
        return
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def on_exit() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(pidfd, on_exit)
    try:
        await ready
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def _kill_group(pgid: int) -> None:
    """SIGKILL every process left in the plugin's process group (its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _kill_and_reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the plugin's whole process group, wait for the plugin, close its pipes.

    The group is killed even when the plugin itself has exited: children it started may
    still run and hold the pipes open.
    """
    _kill_group(proc.pid)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    # wait() must not be abandoned half-way, or the child would stay a zombie
    await asyncio.shield(proc.wait())
    # the pipes' file descriptors: closed now, not whenever the last writer's EOF arrives
    transport = getattr(proc, "_transport", None)
    if transport is not None:
        transport.close()
