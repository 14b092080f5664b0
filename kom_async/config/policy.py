"""What a kubeconfig from an untrusted caller (an MCP tool, an API request) may make this
process do: which exec plugins run, with what env, and whether it may read local files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from kom_async.config.eks import looks_like_eks
from kom_async.config.kubeconfig import ExecConfig, KubeconfigSelection
from kom_async.errors import ExecNotAllowed

DEFAULT_ALLOWED_COMMANDS = frozenset({"aws", "aws-iam-authenticator", "kom-async"})

# env a plugin may not set: each one can make an allowed command run other code
_LOADER_ENV = frozenset({"PATH", "BASH_ENV", "ENV", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT"})
_LOADER_ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON")


class ExecPolicy:
    """Allow exec plugins whose command (a bare name on PATH) is on a list.

    The default commands may only mint a token (``aws eks get-token``, not ``aws s3 cp``),
    no plugin may set loader variables (PATH, LD_*, PYTHON*...) in its env, and a checked
    kubeconfig may not read a ``tokenFile`` from this host.
    """

    def __init__(self, allowed: Iterable[str] = DEFAULT_ALLOWED_COMMANDS, *, deny_all: bool = False) -> None:
        self.allowed = frozenset(allowed)
        self.deny_all = deny_all

    def __repr__(self) -> str:
        return f"ExecPolicy(allowed={sorted(self.allowed)!r}, deny_all={self.deny_all})"

    def check_kubeconfig(self, selection: KubeconfigSelection) -> None:
        """Raise ``ExecNotAllowed`` when the selected user would run or read too much."""
        auth = selection.auth
        if auth.token_file is not None:
            raise ExecNotAllowed(
                f"context {selection.context_name!r} refused: its user reads a token from a local "
                "file (tokenFile), which an untrusted kubeconfig may not do; put the token in the "
                "kubeconfig instead"
            )
        if auth.exec is not None:
            self.check(auth.exec)

    def check(self, config: ExecConfig) -> None:
        """Raise ``ExecNotAllowed`` unless the exec plugin ``config`` may run."""
        name = os.path.basename(config.command)
        if self.deny_all:
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: exec credential plugins are disabled "
                "(deny-all exec policy)"
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
        loader = sorted(
            n for n in config.env if n.upper() in _LOADER_ENV or n.upper().startswith(_LOADER_ENV_PREFIXES)
        )
        if loader:
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: its env may not set {', '.join(loader)} "
                "(that changes what actually runs)"
            )
        if name in DEFAULT_ALLOWED_COMMANDS and not _mints_token(config):
            raise ExecNotAllowed(
                f"exec plugin {name!r} refused: it may only mint a token ('aws eks get-token ...', "
                "'aws-iam-authenticator token ...', 'kom-async eks get-token ...'), "
                "not run other subcommands"
            )


def _mints_token(config: ExecConfig) -> bool:
    """True when a default-allowed command only mints a token."""
    if os.path.basename(config.command) == "kom-async":
        return list(config.args[:2]) == ["eks", "get-token"]
    return looks_like_eks(config)
