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
- Reading is bounded: `loads` refuses JSON nested deeper than `MAX_DEPTH` (no
  RecursionError, no deep structure for later code to recurse on) and NaN/Infinity;
  `number` refuses decimal text outside the range any price, size or amount can take
  (`1e999999999` is a valid Decimal that no quantize or product ever finishes with).
  Every parser of outside text (the recorder, candle files, Coinbase's replies and feed)
  uses these two, so one rule bounds them all.

Why here, at the package root: it is I/O, so not the pure core; the exchange, simulator
and data layers all use it and must not depend on one another (nor on the SQLite store),
so it is a leaf module that imports nothing from tradekit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from decimal import Decimal, InvalidOperation
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
    "loads",
    "number",
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


# -- bounded reading ----------------------------------------------------------------

MAX_DEPTH = 32  # nesting of arrays and objects; every record and reply is under 10
MAX_DIGITS = 40  # significant digits of a number, as written
MIN_EXPONENT = -18  # 1e-18: finer than any increment an exchange uses
MAX_EXPONENT = 15  # below 1e16: above any price, size or amount of a real product
_MAX_NUMBER_TEXT = 100  # characters; longer text is refused before Decimal() reads it


def number(value: str | Decimal) -> Decimal:
    """`value` (decimal text, or a Decimal) as a Decimal in the range money can take.

    Accepted: a finite number written with at most `MAX_DIGITS` (40) significant digits
    whose magnitude is 0 or between 1e-18 and 1e16 (exclusive): its adjusted exponent
    (that of its leading digit) within `MIN_EXPONENT..MAX_EXPONENT` (-18..15). So a
    product of two such numbers is below 1e32, and rounding it to any increment of 1e-18
    or coarser takes at most 50 digits: `MONEY_CONTEXT` (60 digits) never traps on them.
    Anything else raises ValueError saying why (the caller adds where): NaN, infinities,
    `1e999999999`, text longer than 100 characters.
    """
    if isinstance(value, str):
        if len(value) > _MAX_NUMBER_TEXT:
            raise ValueError(f"{_show(value)} is too long for a number")
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{_show(value)} is not a number") from None
    elif isinstance(value, Decimal):
        d = value
    else:
        raise TypeError(f"expected decimal text, got {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"{_show(value)} is not a finite number")
    short = isinstance(value, str) and len(value) <= MAX_DIGITS  # fewer digits than that
    if not short and len(d.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"{_show(value)} has more than {MAX_DIGITS} digits")
    if not MIN_EXPONENT <= d.adjusted() <= MAX_EXPONENT:
        raise ValueError(
            f"{_show(value)} is out of range: its exponent must be within "
            f"{MIN_EXPONENT}..{MAX_EXPONENT} (a size from 1e-18 to below 1e16)"
        )
    return d


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise ValueError(f"{_show(text)} overflows a number")
    return value


_INF = float("inf")
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def loads(raw: str | bytes) -> Any:
    """JSON text as Python values, in bounded time and stack: ValueError (saying why) for
    malformed text, NaN/Infinity (written, or a number too large for a float), or
    nesting deeper than `MAX_DEPTH`. Numbers stay as json reads them: the parsers want
    money as strings and refuse a float wherever they read one."""
    try:
        text = (
            raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
        )
        value = _DECODER.decode(text)  # one decoder: json.loads with options builds one a call
    except RecursionError:
        raise ValueError(f"malformed JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, a refused constant
        raise ValueError(f"malformed JSON: {e}") from None
    # nesting is at most the number of brackets: count them (fast) before walking
    if text.count("[") + text.count("{") > MAX_DEPTH and _too_deep(value):
        raise ValueError(f"malformed JSON: nested deeper than {MAX_DEPTH} levels")
    return value


def _too_deep(value: Any) -> bool:
    """True when `value` nests arrays and objects deeper than MAX_DEPTH (no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        v, depth = stack.pop()
        children = v.values() if isinstance(v, dict) else v
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _show(value: object) -> str:
    """A short repr for an error message: outside text may be megabytes long."""
    if isinstance(value, str):
        text = repr(value)
    else:
        text = str(value) if isinstance(value, Decimal) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def complete_lines(data: bytes) -> list[bytes]:
    """The complete lines of `data`, without their newlines (a torn last line dropped)."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or a torn line
    return lines


def parse(raw: bytes, path: str | os.PathLike[str], line: int) -> dict[str, Any]:
    """One line as a JSON object, or a `JsonlError` naming `path` and `line`."""
    try:
        record = loads(raw)
    except ValueError as e:
        raise JsonlError(os.fspath(path), line, str(e)) from None
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
