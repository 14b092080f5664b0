"""The commands a lab container can run: a small, simulated userland (never a host process).

``echo``, ``cat``, ``true``/``false``, ``env``/``printenv``, ``sleep``, ``hostname``, ``pwd``,
``seq``, ``wc -c``, ``stty size`` and ``sh -c`` / ``bash -c`` with ``;``, ``&&``, ``||``,
``exit N`` and ``>&2``. A program that does not exist cannot be started (the container runtime
fails the exec); inside ``sh -c`` an unknown command is the shell's exit 127.
"""

from __future__ import annotations

import asyncio
import math
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Write = Callable[[bytes], Awaitable[None]]
BIN_DIRS = ("/bin/", "/usr/bin/", "/usr/local/bin/", "/sbin/", "/usr/sbin/")
MAX_SEQ = 1_000_000


class ExecNotFound(Exception):
    """The executable does not exist in the container (the runtime cannot start it)."""


@dataclass
class ExecIO:
    """What a simulated process sees: stdin, stdout/stderr writers, env, files, clock, tty."""

    stdin: asyncio.Queue[bytes | None]
    out: Write
    err: Write
    env: dict[str, str]
    sleep: Callable[[float], Awaitable[None]]
    files: dict[str, bytes] = field(default_factory=dict)
    tty_size: tuple[int, int] | None = None  # (rows, cols) from the last resize, tty only
    tty: bool = False
    stdin_eof: bool = False

    async def read(self) -> bytes | None:
        """The next stdin chunk, or None at end of input."""
        if self.stdin_eof:
            return None
        chunk = await self.stdin.get()
        if chunk is None:
            self.stdin_eof = True
        return chunk


Command = Callable[[list[str], ExecIO], Awaitable[int]]


async def _echo(args: list[str], io: ExecIO) -> int:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    await io.out((" ".join(args) + ("\n" if newline else "")).encode())
    return 0


async def _cat(args: list[str], io: ExecIO) -> int:
    rc = 0
    for name in args or ["-"]:
        if name == "-":
            while (chunk := await io.read()) is not None:
                await io.out(chunk)
        elif name in io.files:
            await io.out(io.files[name])
        else:
            await io.err(f"cat: {name}: No such file or directory\n".encode())
            rc = 1
    return rc


async def _true(args: list[str], io: ExecIO) -> int:
    return 0


async def _false(args: list[str], io: ExecIO) -> int:
    return 1


async def _env(args: list[str], io: ExecIO) -> int:
    await io.out("".join(f"{k}={v}\n" for k, v in io.env.items()).encode())
    return 0


async def _printenv(args: list[str], io: ExecIO) -> int:
    if not args:
        return await _env(args, io)
    found = [io.env[a] for a in args if a in io.env]
    await io.out("".join(v + "\n" for v in found).encode())
    return 0 if len(found) == len(args) else 1


async def _sleep(args: list[str], io: ExecIO) -> int:
    try:
        seconds = sum(float(a) for a in args) if args else math.nan
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        what = args[0] if args else ""
        msg = f"sleep: invalid time interval '{what}'\n" if args else "sleep: missing operand\n"
        await io.err(msg.encode())
        return 1
    await io.sleep(seconds)
    return 0


async def _hostname(args: list[str], io: ExecIO) -> int:
    await io.out((io.env.get("HOSTNAME", "") + "\n").encode())
    return 0


async def _pwd(args: list[str], io: ExecIO) -> int:
    await io.out(b"/\n")
    return 0


async def _seq(args: list[str], io: ExecIO) -> int:
    try:
        last = int(args[-1]) if len(args) == 1 else -1
    except ValueError:
        last = -1
    if not 0 <= last <= MAX_SEQ:
        await io.err(f"seq: the lab's seq takes one count from 0 to {MAX_SEQ}\n".encode())
        return 1
    for start in range(1, last + 1, 1000):
        await io.out("".join(f"{i}\n" for i in range(start, min(start + 1000, last + 1))).encode())
    return 0


async def _wc(args: list[str], io: ExecIO) -> int:
    if args != ["-c"]:
        await io.err(b"wc: the lab's wc only counts bytes of stdin (wc -c)\n")
        return 1
    total = 0
    while (chunk := await io.read()) is not None:
        total += len(chunk)
    await io.out(f"{total}\n".encode())
    return 0


async def _stty(args: list[str], io: ExecIO) -> int:
    if args != ["size"]:
        await io.err(b"stty: the lab's stty only answers 'stty size'\n")
        return 1
    if not io.tty:
        await io.err(b"stty: 'standard input': Inappropriate ioctl for device\n")
        return 1
    rows, cols = io.tty_size or (24, 80)
    await io.out(f"{rows} {cols}\n".encode())
    return 0


async def _sh(args: list[str], io: ExecIO) -> int:
    if len(args) < 2 or args[0] != "-c":
        await io.err(b"sh: the lab's shell only runs 'sh -c SCRIPT'\n")
        return 2
    return await _script(args[1], io)


COMMANDS: dict[str, Command] = {
    "echo": _echo,
    "cat": _cat,
    "true": _true,
    "false": _false,
    "env": _env,
    "printenv": _printenv,
    "sleep": _sleep,
    "hostname": _hostname,
    "pwd": _pwd,
    "seq": _seq,
    "wc": _wc,
    "stty": _stty,
    "sh": _sh,
    "bash": _sh,
}


def _lookup(name: str) -> Command | None:
    for prefix in BIN_DIRS:
        if name.startswith(prefix) and "/" not in name[len(prefix) :]:
            name = name[len(prefix) :]
            break
    if "/" in name:
        return None
    return COMMANDS.get(name)


async def run(argv: list[str], io: ExecIO) -> int:
    """Run ``argv``; its exit code. Raises :class:`ExecNotFound` if there is no such program."""
    command = _lookup(argv[0]) if argv and argv[0] else None
    if command is None:
        raise ExecNotFound(argv[0] if argv else "")
    return await command(argv[1:], io)


async def _script(script: str, io: ExecIO) -> int:
    """A shell script of simple commands joined by ``;``, ``&&``, ``||`` (``exit N``, ``>&2``)."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|>")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:  # unterminated quote
        await io.err(f"sh: 1: Syntax error: {exc}\n".encode())
        return 2
    rc, op = 0, ";"
    words: list[str] = []
    for tok in [*tokens, ";"]:
        if tok not in (";", "&&", "||"):
            words.append(tok)
            continue
        if words and (op == ";" or (op == "&&" and rc == 0) or (op == "||" and rc != 0)):
            if words[0] == "exit":
                return _exit_code(words[1:], rc)
            rc = await _simple(words, io)
        elif not words and tok != ";":
            await io.err(f'sh: 1: Syntax error: "{tok}" unexpected\n'.encode())
            return 2
        words, op = [], tok
    return rc


def _exit_code(args: list[str], last: int) -> int:
    if not args:
        return last
    try:
        return int(args[0]) % 256
    except ValueError:
        return 2


async def _simple(words: list[str], io: ExecIO) -> int:
    to_stderr = False
    if words[-2:] == [">&", "2"]:
        words, to_stderr = words[:-2], True
    command = _lookup(words[0]) if words else None
    if command is None:
        await io.err(f"sh: 1: {words[0] if words else ''}: not found\n".encode())
        return 127
    sub = ExecIO(
        io.stdin, io.err if to_stderr else io.out, io.err, io.env, io.sleep, io.files, io.tty_size, io.tty
    )
    sub.stdin_eof = io.stdin_eof
    rc = await command(words[1:], sub)
    io.stdin_eof = sub.stdin_eof
    return rc
