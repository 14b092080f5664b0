"""Which exec credential plugins a kubeconfig may run: kubeconfigs from untrusted callers
(an MCP tool, an API request) can otherwise make this process run any program."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from kom_async.errors import ExecNotAllowed
from kom_async.kubeconfig import ExecConfig

__all__ = ["DEFAULT_ALLOWED_COMMANDS", "ExecPolicy"]

DEFAULT_ALLOWED_COMMANDS = frozenset({"aws", "aws-iam-authenticator", "kom-async"})


class ExecPolicy:
    """Allow exec plugins whose command (by base name, no path tricks) is on a list."""

    def __init__(self, allowed: Iterable[str] = DEFAULT_ALLOWED_COMMANDS, *, deny_all: bool = False) -> None:
        self.allowed = frozenset(allowed)
        self.deny_all = deny_all

    def __repr__(self) -> str:
        return f"ExecPolicy(allowed={sorted(self.allowed)!r}, deny_all={self.deny_all})"

    def check(self, config: ExecConfig) -> None:
        """Raise ``ExecNotAllowed`` unless ``config`` may run."""
        name = os.path.basename(config.command)
        if self.deny_all:
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: exec credential plugins are disabled (deny-all exec policy)"
            )
        # a bare name found on PATH, or the absolute path PATH would give for that name
        on_path = os.sep not in config.command or (
            os.path.isabs(config.command) and shutil.which(name) == config.command
        )
        if name not in self.allowed or not on_path:
            allowed = ", ".join(sorted(self.allowed)) or "none"
            raise ExecNotAllowed(
                f"exec plugin {config.command!r} refused: only these commands may run as "
                f"credential plugins: {allowed} (add it to the allowlist to permit it)"
            )
