"""Exec credential plugins: run the kubeconfig's command as client-go does and read its token.

No shell; the process itself is run by ``plugin_process`` (bounded output, its whole process
group killed and reaped, no wait on a pipe a descendant holds); its text loses control
characters and secrets before it reaches a user.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.plugin_process import MAX_STDOUT, kill_group, run_plugin
from kom_async.auth.token import Token
from kom_async.config.kubeconfig import ExecConfig
from kom_async.config.readfile import PEM_MAX, read_file
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, ExecPluginError, KomError, KubeconfigError
from kom_async.printable import printable
from kom_async.scrub import REDACTED, scrub

log = logging.getLogger("kom_async.auth")

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
        self._groups: set[int] = set()  # process groups of the runs in flight

    def __repr__(self) -> str:
        return f"ExecTokenSource(command={self.config.command!r}, timeout={self.timeout})"

    async def fetch(self) -> Token:
        env = {**os.environ, **self.config.env, "KUBERNETES_EXEC_INFO": self._info}
        try:
            run = await run_plugin(
                self.config.command, self.config.args, env, timeout=self.timeout, groups=self._groups
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
        if run.held:
            self._report_held(run.held)
        if run.exit_code is None:
            raise self._fail(f"it did not finish within {self.timeout:g} s and was killed")
        stderr_text = scrub(_redact_env(printable(run.stderr_tail.decode("utf-8", "replace")), env))
        if run.exit_code != 0:
            raise self._fail(f"it exited with code {run.exit_code}", code=run.exit_code, stderr=stderr_text)
        if run.overflow:
            raise self._fail(f"it wrote more than {MAX_STDOUT} bytes to stdout", code=run.exit_code)
        token, reason = parse_exec_credential(
            run.stdout, api_version=self.config.api_version, clock=self._clock
        )
        if token is None:
            raise self._fail(f"it returned an unusable credential: {reason}", stderr=stderr_text)
        return token

    def _report_held(self, held: tuple[str, ...]) -> None:
        """A descendant left the plugin's process group (``setsid``) and still holds its pipes."""
        where = f" (cluster {self.cluster_id!r})" if self.cluster_id else ""
        log.warning(
            "exec plugin %r%s left a process running outside its process group (a descendant "
            "that called setsid) that still holds the plugin's %s; kom-async stopped reading "
            "without waiting for it and cannot kill it: it is still running",
            os.path.basename(self.config.command),
            where,
            " and ".join(held),
        )

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
        # the hint and stderr are the plugin's words: no escape sequence reaches a terminal
        message = scrub(
            printable(f"exec plugin {os.path.basename(config.command)!r} failed: {what}{install}")
        )
        if eks:
            return EKSAuthError(EKSAuthErrorKind.ExecFailed, message, cluster_id=cluster_id or None)
        where = f"cluster {cluster_id!r}: " if cluster_id else ""
        return ExecPluginError(where + message, command=config.command, exit_code=code, stderr=stderr)

    async def aclose(self) -> None:
        """Kill the process group of any run still in flight (its fetch reaps it)."""
        for pgid in list(self._groups):
            kill_group(pgid)
