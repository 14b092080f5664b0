"""Where an untrusted kubeconfig may make this process read: only under the directories the
operator allowed. ``allowed_file`` is the one check, for kubeconfig paths (an MCP tool's
``kubeconfig_path``), certificate-authority, client-certificate/key and tokenFile."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from kom_async.errors import KubeconfigRefused

PathLike = str | os.PathLike[str]


def real_dirs(dirs: Sequence[PathLike]) -> tuple[Path, ...]:
    """``dirs`` with ``~`` expanded and symlinks resolved (what paths are compared against)."""
    return tuple(Path(os.path.realpath(os.path.expanduser(d))) for d in dirs)


def _inside(real: Path, dirs: Sequence[Path]) -> bool:
    return any(real == d or real.is_relative_to(d) for d in dirs)


def allowed_file(path: PathLike, allowed_dirs: Sequence[PathLike], *, what: str = "file") -> Path:
    """The real path of ``path`` (``~``, ``..`` and symlinks resolved) when it lies inside one of
    ``allowed_dirs``; otherwise ``KubeconfigRefused`` saying which directories are allowed.

    A symlink inside an allowed directory that points outside it is refused, as is ``..``.
    """
    text = os.fspath(path)
    if "\x00" in text:
        raise KubeconfigRefused(f"{what} path contains a NUL character")
    real = Path(os.path.realpath(os.path.expanduser(text)))
    dirs = real_dirs(allowed_dirs)
    if _inside(real, dirs):
        return real
    listed = ", ".join(str(d) for d in dirs) or "none"
    raise KubeconfigRefused(
        f"{what} {text!r} is outside the directories an untrusted kubeconfig may read from "
        f"(allowed: {listed}); put the file there, or embed its content (*-data fields), or "
        "allow the directory (TrustPolicy(allowed_dirs=...), kom-async mcp --kubeconfig-dir)"
    )


def fd_is_under(fd: int, allowed_dirs: Sequence[PathLike]) -> bool:
    """True when the file open as ``fd`` really lies under ``allowed_dirs`` (checked after the
    open, so a symlink swapped in between the path check and the open is caught). Where the
    platform cannot tell (no /proc), the path check before the open stands."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return True
    return _inside(Path(target), real_dirs(allowed_dirs))
