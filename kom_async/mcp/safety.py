"""What a kubeconfig sent through a tool may do: which exec plugins run, which files it reads.

Preloaded kubeconfigs come from the local operator and are trusted; kubeconfigs from tool
calls come from whoever talks to the server, so an exec plugin would let them run programs
here and a ``tokenFile`` would let them send a local file's content to a server they chose.
"""

from __future__ import annotations

import os

from kom_async.auth.detect import looks_like_eks
from kom_async.errors import ExecNotAllowed
from kom_async.kubeconfig import ExecConfig, KubeconfigSelection
from kom_async.policy import DEFAULT_ALLOWED_COMMANDS, ExecPolicy

__all__ = ["check_tool_kubeconfig"]


# env a tool-supplied plugin may not set: each one can make an allowed command run other code
_LOADER_ENV = ("PATH", "BASH_ENV", "ENV", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT")
_LOADER_ENV_PREFIXES = ("LD_", "DYLD_", "PYTHON")


def _loader_env(config: ExecConfig) -> list[str]:
    """Names in the plugin's env that change which program or code actually runs."""
    return sorted(
        name
        for name in config.env
        if name.upper() in _LOADER_ENV or name.upper().startswith(_LOADER_ENV_PREFIXES)
    )


def _is_token_command(config: ExecConfig) -> bool:
    """True when a default-allowed command only mints a token (no ``aws s3 cp ...``)."""
    name = os.path.basename(config.command)
    if name == "kom-async":
        return list(config.args[:2]) == ["eks", "get-token"]
    return looks_like_eks(config)


def check_tool_kubeconfig(selection: KubeconfigSelection, policy: ExecPolicy) -> None:
    """Raise ``ExecNotAllowed`` when a tool-supplied kubeconfig would run or read too much."""
    auth = selection.auth
    if auth.token_file is not None:
        raise ExecNotAllowed(
            f"context {selection.context_name!r} refused: its user reads a token from a local file "
            "(tokenFile), which a kubeconfig sent through a tool may not do; put the token in the "
            "kubeconfig or preload the file with --kubeconfig"
        )
    config = auth.exec
    if config is None:
        return
    policy.check(config)
    name = os.path.basename(config.command)
    loader = _loader_env(config)
    if loader:
        raise ExecNotAllowed(
            f"exec plugin {name!r} refused: a kubeconfig sent through a tool may not set "
            f"{', '.join(loader)} in the plugin's env (it changes what actually runs)"
        )
    if name in DEFAULT_ALLOWED_COMMANDS and not _is_token_command(config):
        raise ExecNotAllowed(
            f"exec plugin {name!r} refused: through a tool it may only mint a token "
            "('aws eks get-token ...', 'aws-iam-authenticator token ...', 'kom-async eks get-token ...'), "
            "not run other subcommands"
        )
