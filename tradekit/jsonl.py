"""Append-only JSON-lines files: whole lines, one writer, strict reading.

Three parts of tradekit keep such files: the paper exchange's journal (money: every line
fsync'd before the change it records), the simulator's order side file (presentation:
flushed) and the recorder (market data: flushed, fsync'd on request). One set of rules:

- A line counts once its newline is written. A last line without one is torn (a crash
  mid-write): readers ignore it, and a writer reopening the file cuts it off first, so
  that the next line starts clean.
- Writing: `JsonlFile.append` writes whole lines (compact JSON, one object a line),
  flushes, and fsyncs when the file is `durable`; a write that fails is cut off the file
  again, so a failed append leaves the file as it was. `lock=True` takes an exclusive
  flock for the writer's life: a second writer on the file is refused.
- Reading is strict: every complete line must be a JSON object, and a bad one raises
  `JsonlError` naming the file and the line.

Why here, at the package root: it is I/O, so not the pure core; the exchange, simulator
and data layers all use it and must not depend on one another (nor on the SQLite store),
so it is a leaf module that imports nothing from tradekit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "JsonlError",
    "JsonlFile",
    "JsonlLocked",
    "LineError",
    "complete_lines",
    "dumps",
    "parse",
    "read",
]

_SEPARATORS = (",", ":")


class LineError(ValueError):
    """A file read line by line could not be read; says which file, which line and what
    is wrong (`path, line N: message`). The base of every such error in tradekit."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}, line {line}: {message}")
        self.path = path
        self.line = line
        self.message = message

    def __reduce__(self) -> tuple[type[LineError], tuple[str, int, str]]:
        return (type(self), (self.path, self.line, self.message))


class JsonlError(LineError):
    """A JSON-lines file could not be read."""


class JsonlLocked(OSError):
    """Another writer holds the file."""


def dumps(record: Any) -> bytes:
    """One record as one compact line, newline included (NaN and Infinity refused)."""
    return (json.dumps(record, separators=_SEPARATORS, allow_nan=False) + "\n").encode()


def complete_lines(data: bytes) -> list[bytes]:
    """The complete lines of `data`, without their newlines (a torn last line dropped)."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or a torn line
    return lines


def parse(raw: bytes, path: str | os.PathLike[str], line: int) -> dict[str, Any]:
    """One line as a JSON object, or a `JsonlError` naming `path` and `line`."""
    try:
        record = json.loads(raw)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise JsonlError(os.fspath(path), line, f"malformed JSON: {e}") from None
    if not isinstance(record, dict):
        kind = type(record).__name__
        raise JsonlError(os.fspath(path), line, f"expected a JSON object, got {kind}")
    return record


def read(path: str | os.PathLike[str], start: int = 1) -> Generator[tuple[int, bytes], None, None]:
    """`(line number, raw line)` for the file's complete lines from line `start` on,
    streamed (a torn last line is not a line). A missing file has none."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below, also on early exit)
    except FileNotFoundError:
        return
    with f:
        for lineno, raw in enumerate(f, 1):
            if not raw.endswith(b"\n"):
                return  # the last line, cut short by a crash mid-write
            if lineno >= start:
                yield lineno, raw[:-1]


class JsonlFile:
    """An append-only JSON-lines file open for writing.

    `mode="a"` opens (or creates) the file, reads its complete lines into `lines` (the
    caller replays them) and cuts a torn last line off; `"x"` creates a new file and
    refuses an existing one; `"w"` starts an empty file. `durable` fsyncs every flush
    (and the directory of a new file); `lock` takes an exclusive flock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Literal["a", "x", "w"] = "a",
        durable: bool = False,
        lock: bool = False,
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        exists = self.path.exists()
        raw_mode = {"a": "r+b" if exists else "w+b", "x": "xb", "w": "wb"}[mode]
        f = cast(BinaryIO, open(self.path, raw_mode))  # noqa: SIM115 (closed by close())
        try:
            if lock:
                _lock(f, self.path)
            self.lines: list[bytes] = complete_lines(f.read()) if mode == "a" else []
            size = sum(len(line) + 1 for line in self.lines)
            if mode == "a":
                f.truncate(size)  # drop a torn last line
                f.seek(size)
        except BaseException:
            f.close()
            raise
        self._file: BinaryIO | None = f
        self._size = size
        if durable and not (exists and mode == "a"):
            _fsync_dir(self.path.parent)

    @property
    def closed(self) -> bool:
        return self._file is None

    def append(self, record: Any) -> None:
        """Write one record as a line, flushed (and fsync'd when durable)."""
        self.write(dumps(record))

    def write(self, data: bytes) -> None:
        """Write whole lines (`data` ends with a newline), flushed (and fsync'd when
        durable); on failure the file is cut back to where it was."""
        f = self._file
        if f is None:
            raise ValueError(f"{self.path}: the file is closed")
        try:
            f.write(data)
            f.flush()
            if self.durable:
                os.fsync(f.fileno())
        except BaseException:
            try:
                f.seek(self._size)
                f.truncate(self._size)
            except OSError:
                pass
            raise
        self._size += len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _lock(f: BinaryIO, path: Path) -> None:
    if fcntl is None:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JsonlLocked(f"{path}: the file is in use by another writer") from None


def _fsync_dir(directory: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
