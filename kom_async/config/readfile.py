"""The one reader of files a user or a kubeconfig names (kubeconfigs, token files, CA and client
certificate/key files, the service account's files, get-token cache entries): only regular
files, never more than a cap per kind, and never blocking on a FIFO or a device.

Stays lean on purpose (``os``, ``stat``, ``errno``): ``kom-async eks get-token`` reads its
cache through it on every kubectl call.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (CLI start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence

MiB = 1 << 20
KUBECONFIG_MAX = 16 * MiB
"""A kubeconfig (the bounded YAML loader's own limit)."""
TOKEN_MAX = 1 * MiB
"""A bearer token file; a projected service account token is about 1 KiB."""
PEM_MAX = 4 * MiB
"""A CA bundle, client certificate or key; a whole system CA bundle is about 200 KiB."""
CACHE_MAX = 64 * 1024
"""A get-token cache entry (about 2 KiB)."""

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


class FileRefused(OSError):
    """The file is not one this process reads: not a regular file, or larger than the cap.
    ``strerror`` says which, as a sentence fragment (``"is a FIFO (named pipe), ..."``)."""


def read_file(
    path: str | os.PathLike[str],
    *,
    limit: int,
    allowed_dirs: Sequence[str | os.PathLike[str]] | None = None,
    what: str = "file",
    follow_symlinks: bool = True,
) -> bytes:
    """The content of the regular file ``path``, at most ``limit`` bytes.

    Refuses (``FileRefused``, an ``OSError``) a FIFO, device, socket or directory without
    reading from it or waiting on it, and a file longer than ``limit`` (at most ``limit + 1``
    bytes are read to tell). With ``allowed_dirs`` (an untrusted kubeconfig) the path must
    lie under them (``KubeconfigRefused``), checked before the open and again on the open
    file, so a symlink swapped in between is caught. Symlinks are followed unless
    ``follow_symlinks`` is False: kubeconfigs and mounted secrets (``..data/token``) are
    symlinks in ordinary use, while a private cache directory never holds one.
    Other failures are the ``OSError`` of ``open``/``read`` (``ENOENT``, ``EACCES``).
    """
    if allowed_dirs is not None:
        from kom_async.config.files import allowed_file

        path = allowed_file(path, allowed_dirs, what=what)
    try:
        # refuse before opening: opening a device can itself have effects (a tape rewinds)
        _refuse_special(os.stat(path, follow_symlinks=follow_symlinks).st_mode)
        nofollow = 0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0)
        # O_NONBLOCK: a FIFO swapped in after the stat opens at once instead of waiting for a writer
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | os.O_CLOEXEC | nofollow
        fd = os.open(path, flags)
    except ValueError:  # an embedded NUL character
        raise OSError(errno.EINVAL, "the file name holds a NUL character") from None
    try:
        if allowed_dirs is not None:
            from kom_async.config.files import fd_is_under
            from kom_async.errors import KubeconfigRefused

            if not fd_is_under(fd, allowed_dirs):
                raise KubeconfigRefused(
                    f"{what} {os.fspath(path)!r} changed to point outside the allowed directories"
                )
        st = os.fstat(fd)
        _refuse_special(st.st_mode)
        if st.st_size > limit:
            raise _too_large(limit)
        return _read_at_most(fd, limit)
    finally:
        os.close(fd)


def _refuse_special(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise FileRefused(errno.EINVAL, f"it is {kind}, not a regular file")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = os.read(fd, min(MiB, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:  # the file grew after the fstat
        raise _too_large(limit)
    return b"".join(chunks)


def _too_large(limit: int) -> FileRefused:
    return FileRefused(errno.EFBIG, f"it is larger than {_size(limit)}, the most read from such a file")


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} bytes"
