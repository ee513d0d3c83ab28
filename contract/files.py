"""Reading a file the gate was told to read: a readable, regular UTF-8 text file, or one error.

Every file a person hands the gate (a settings profile, a CA bundle, a dialect) goes through
`read_text_file`, so each gets the same rule and the same kind of message: which file, and what
is wrong with it. A FIFO or a device is refused without blocking on it.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_TEXT_BYTES = 1 << 20  # no settings, CA bundle or dialect file is anywhere near this


@dataclass
class FileError(ValueError):
    """A file that cannot be read as text: `problem` says why, never what it holds."""

    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno in {errno.EACCES, errno.EPERM}:
        return "cannot be read (permission denied)"
    if exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is not a directory"
    return f"cannot be read ({exc.strerror or exc.__class__.__name__})"


def decode_text(raw: bytes, path: str) -> str:
    """`raw` as UTF-8 text; FileError naming the line of the first bad byte otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start]
        raise FileError(path, f"is not UTF-8 text (line {line}, byte 0x{bad:02x})") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FileError(path, f"holds a NUL byte (line {line}): not a text file")
    return text.removeprefix("\ufeff")


def read_text_file(path: Path, *, shown: str | None = None, limit: int = MAX_TEXT_BYTES) -> str:
    """The text of `path`; FileError (with `shown`, default the path, as its name) otherwise."""
    name = shown or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileError(name, describe_os_error(exc)) from None
    try:
        facts = os.fstat(fd)
        if stat.S_ISDIR(facts.st_mode):
            raise FileError(name, "is a directory, not a file")
        if not stat.S_ISREG(facts.st_mode):
            raise FileError(name, "is not a regular file")
        if facts.st_size > limit:
            raise FileError(name, f"is {facts.st_size} bytes; the limit is {limit}")
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            if sum(map(len, chunks)) > limit:
                raise FileError(name, f"is larger than {limit} bytes")
    except OSError as exc:
        raise FileError(name, describe_os_error(exc)) from None
    finally:
        os.close(fd)
    return decode_text(b"".join(chunks), name)
