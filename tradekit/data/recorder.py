"""Record events to a JSON-lines file and replay them: today's session, tomorrow's test.

A recording is UTF-8 text, one JSON object a line, compact (`separators=(",", ":")`):

    {"format":"tradekit-recording","version":1,"created_ns":1717...,"meta":{...}}
    {"recv_ns":1717...,"event":{"type":"MarketTrade","product_id":"BTC-USD",...}}
    {"recv_ns":1717...,"event":{"type":"OrderFilled","client_order_id":"t-1",...}}

The first line is the header (`meta` is whatever the caller passed: products, source,
notes). Each later line is one event as `tradekit.store.codec.encode` writes it (Decimals
as strings, exact) with `recv_ns`, the integer nanoseconds at which it was received (the
wall clock by default; the event's own `ts` is inside the event).

Durability: `Recorder` buffers lines and writes them every `flush_every` events, every
`flush_s` seconds (checked when an event is recorded), on `flush()` and on `close()`.
Written lines are in the OS's hands (they survive the process crashing); with
`durable=True` each flush also fsyncs them (they survive the machine crashing). A crash
loses at most the lines not yet flushed, and the file stays readable: a line counts only
once its newline is written, so a last line cut short by a crash mid-write is skipped
when reading. Any other damage (a bad line before the last) is an error.

Reading (`Recording`) streams the file; every problem is a `RecordingError` naming the
file and the line: not a recording, an unsupported version, malformed JSON, a bad record,
an unknown event type or a bad field (the codec's message). Reading is bounded
(`tradekit.jsonl.loads` and `number`): JSON nested deeper than 32 levels, a number
outside money's range (finite, at most 40 digits, exponent within -18..15), a time or
other integer outside 0..2**63 (signed 64 bits for other integers), or a market trade at
a price <= 0 or a negative size, a fill, order or price that is not positive, or a
negative fee or filled figure is an error, never an event.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeGuard

from tradekit import jsonl
from tradekit.core.events import MarketTrade
from tradekit.core.money import plain
from tradekit.data.generators import PricePath
from tradekit.jsonl import JsonlError
from tradekit.store.codec import decode, encode

__all__ = [
    "FORMAT",
    "VERSION",
    "Recorder",
    "Recording",
    "RecordingError",
    "record_async",
    "record_iter",
    "record_path",
    "replay_async",
    "replay_into_sim",
]

FORMAT = "tradekit-recording"
VERSION = 1

_HEADER_KEYS = frozenset({"format", "version", "created_ns", "meta"})
_RECORD_KEYS = frozenset({"recv_ns", "event"})

PathLike = str | os.PathLike[str]


class RecordingError(JsonlError):
    """A recording could not be read; says which file, which line and what is wrong."""


_MAX_INT = 2**63  # a time in ns, a count: what a signed 64-bit integer holds


def _is_int(v: Any) -> bool:
    return type(v) is int  # bool is an int, and is not a time


def _is_time(v: Any) -> TypeGuard[int]:
    return type(v) is int and 0 <= v < _MAX_INT


def _short(v: Any) -> str:
    text = repr(v) if isinstance(v, str | int | float | bool | None) else type(v).__name__
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------- writing


class Recorder:
    """Appends events to a new recording file; a context manager.

        with Recorder("today.jsonl", meta={"products": ["BTC-USD"], "source": "ws"}) as rec:
            for ev in feed:
                rec.record(ev)

    The header is written (and flushed) at once, so the file is a valid, empty recording
    from the start. An existing file is refused unless `overwrite=True`: a recording of
    a live session cannot be made again. `record` accepts whatever the codec encodes
    (core events; commands and reports too) within the range the reader accepts, and
    raises a ValueError for anything else, so every line written can be read back.
    One thread at a time.
    """

    def __init__(
        self,
        path: PathLike,
        meta: dict[str, Any] | None = None,
        *,
        overwrite: bool = False,
        flush_every: int = 256,
        flush_s: float | None = 1.0,
        durable: bool = False,
    ) -> None:
        if flush_every < 1:
            raise ValueError(f"flush_every must be >= 1, got {flush_every}")
        if flush_s is not None and not flush_s >= 0:
            raise ValueError(f"flush_s must be >= 0 or None, got {flush_s}")
        self.path = os.fspath(path)
        self.meta: dict[str, Any] = dict(meta or {})
        self.created_ns = time.time_ns()
        self.count = 0
        self.flush_every = flush_every
        self.flush_s = flush_s
        self.durable = durable
        header = {
            "format": FORMAT,
            "version": VERSION,
            "created_ns": self.created_ns,
            "meta": self.meta,
        }
        try:
            header_line = jsonl.dumps(header)
        except (TypeError, ValueError) as e:
            raise TypeError(f"Recorder: meta must be JSON-serializable: {e}") from None
        try:
            jsonl.loads(header_line)  # readable back (nesting within bounds)
        except ValueError as e:
            raise ValueError(f"Recorder: meta cannot be read back: {e}") from None
        self._buf: list[bytes] = [header_line]
        self._file: jsonl.JsonlFile | None = jsonl.JsonlFile(
            self.path, mode="w" if overwrite else "x", durable=durable
        )
        self._last_flush = time.monotonic()
        self.flush()

    @property
    def closed(self) -> bool:
        return self._file is None

    def record(self, event: Any, recv_ns: int | None = None) -> None:
        """Add one event, received at `recv_ns` (default: now, `time.time_ns()`)."""
        if self._file is None:
            raise ValueError(f"Recorder({self.path!r}) is closed")
        if recv_ns is None:
            recv_ns = time.time_ns()
        elif not _is_int(recv_ns):
            raise TypeError(f"recv_ns must be an int (ns), got {recv_ns!r}")
        elif not _is_time(recv_ns):
            raise ValueError(f"recv_ns must be within 0..2**63 ns, got {recv_ns}")
        data = encode(event)
        _checked(event)  # what the reader would refuse is not written: the file stays readable
        buf = self._buf
        buf.append(jsonl.dumps({"recv_ns": recv_ns, "event": data}))
        self.count += 1
        if len(buf) >= self.flush_every or (
            self.flush_s is not None and time.monotonic() - self._last_flush >= self.flush_s
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines out (and fsync them with `durable=True`)."""
        f = self._file
        if f is None:
            return
        if self._buf:
            f.write(b"".join(self._buf))  # flushed, and fsync'd when durable
            self._buf.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if self._file is None:
            return
        try:
            self.flush()
        finally:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()  # what was recorded before an error is kept

    def __repr__(self) -> str:
        state = "closed" if self._file is None else "open"
        return f"Recorder({self.path!r}, {self.count} events, {state})"


def _recorder_for(target: Recorder | PathLike, meta: dict[str, Any] | None) -> Recorder:
    return target if isinstance(target, Recorder) else Recorder(target, meta)


def record_iter(
    events: Iterable[Any],
    path: Recorder | PathLike,
    limit: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Generator[Any, None, None]:
    """Yield `events` on, recording each as it passes (a tap), up to `limit` events.

    `path` is a file (a new Recorder, closed when the iteration ends or the generator is
    closed) or an open `Recorder` (left open: its owner closes it). An event is recorded
    before it is yielded, with the time it passed through as `recv_ns`.
    """
    rec = _recorder_for(path, meta)
    try:
        if limit is not None and limit <= 0:
            return
        for n, ev in enumerate(events, 1):
            rec.record(ev)
            yield ev
            if limit is not None and n >= limit:
                return
    finally:
        if rec is not path:
            rec.close()


async def record_async(
    events: AsyncIterable[Any],
    path: Recorder | PathLike,
    limit: int | None = None,
    meta: dict[str, Any] | None = None,
) -> AsyncGenerator[Any, None]:
    """`record_iter` for an async feed: `async for ev in record_async(feed, "s.jsonl")`.

    Writes are buffered (a flush is one small blocking write). The source is not closed
    when `limit` is reached: it belongs to the caller.
    """
    rec = _recorder_for(path, meta)
    try:
        if limit is not None and limit <= 0:
            return
        n = 0
        async for ev in events:
            rec.record(ev)
            yield ev
            n += 1
            if limit is not None and n >= limit:
                return
    finally:
        if rec is not path:
            rec.close()


def _pricepath_meta(path: PricePath) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for f in dataclasses.fields(path):
        v = getattr(path, f.name)
        params[f.name] = plain(v) if isinstance(v, Decimal) else v
    return {"source": "PricePath", "products": [path.product_id], "params": params}


def record_path(
    trades: PricePath | Iterable[MarketTrade],
    path: PathLike,
    meta: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> int:
    """Write a recording of `trades` (a seeded PricePath, a list, ...), `recv_ns` = each
    trade's `ts`. A PricePath's parameters go into the meta (the caller's keys win).
    Returns the number of trades written."""
    full_meta = _pricepath_meta(trades) if isinstance(trades, PricePath) else {}
    full_meta.update(meta or {})
    with Recorder(path, full_meta, overwrite=overwrite, flush_every=4096, flush_s=None) as rec:
        for i, trade in enumerate(trades):
            if type(trade) is not MarketTrade:
                raise TypeError(f"record_path: item {i} is not a MarketTrade: {trade!r}")
            rec.record(trade, trade.ts)
        return rec.count


# ---------------------------------------------------------------------------- reading


def _decode(data: Any) -> Any:
    """`codec.decode`, with a fast path for a well-formed MarketTrade (most of a recording).

    The fast path takes only what decode would accept unchanged (every field present, of
    the exact kind, Decimals finite); anything else goes to decode, which also makes the
    error messages. A field added to MarketTrade changes the key count: decode again.
    """
    if type(data) is dict and len(data) == 6 and data.get("type") == "MarketTrade":
        pid = data.get("product_id")
        price = data.get("price")
        size = data.get("size")
        ts = data.get("ts")
        tid = data.get("trade_id")
        if (
            type(pid) is str
            and type(price) is str
            and type(size) is str
            and _is_time(ts)
            and type(tid) is str
        ):
            try:
                p, q = jsonl.number(price), jsonl.number(size)
            except ValueError:
                return _checked(decode(data))
            if p > 0 and q >= 0:
                return MarketTrade(pid, p, q, ts, tid)
    return _checked(decode(data))


# Money fields that cannot be what their names say when out of range: a fill of -1, a
# negative fee. (A MarketTrade's price and size have their own rule, below.)
_POSITIVE = frozenset({"price", "size", "limit_price", "stop_price"})
_NON_NEGATIVE = frozenset({"fee", "fees", "total_fees", "filled_size", "filled_value"})


def _checked(event: Any) -> Any:
    """`event` as decoded, once its values are in range: every Decimal within
    `jsonl.number`'s range (prices and sizes > 0, fees and filled figures >= 0), every
    int within 64 bits (a `ts` also >= 0), a market trade at a price > 0 and a size >= 0.
    ValueError naming the field otherwise. Nested events are checked too (a loop, no
    recursion)."""
    stack = [(type(event).__name__, event)]
    while stack:
        where, obj = stack.pop()
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            name = f"{where}.{f.name}"
            if type(v) is Decimal:
                try:
                    jsonl.number(v)
                except ValueError as e:
                    raise ValueError(f"codec: {name}: {e}") from None
                if f.name in _POSITIVE and v <= 0 and type(obj) is not MarketTrade:
                    raise ValueError(f"codec: {name}: {plain(v)} is impossible (must be > 0)")
                if f.name in _NON_NEGATIVE and v < 0:
                    raise ValueError(f"codec: {name}: {plain(v)} is impossible (must be >= 0)")
            elif type(v) is int:
                low = 0 if f.name == "ts" or f.name.endswith("_ts") else -_MAX_INT
                if not low <= v < _MAX_INT:
                    raise ValueError(f"codec: {name}: {_short(v)} is out of range")
            elif dataclasses.is_dataclass(v) and not isinstance(v, type):
                stack.append((name, v))
    if type(event) is MarketTrade and not (event.price > 0 and event.size >= 0):
        raise ValueError(
            f"codec: MarketTrade: price {event.price} and size {event.size} are impossible"
        )
    return event


class Recording:
    """A recording file, read: the header at once, the events each time they are asked.

        rec = Recording("today.jsonl")
        rec.meta                                  # the dict given to the Recorder
        for recv_ns, event in rec: ...
        engine = ExecutionEngine(decision, exchange, store, rec.ticks_source("BTC-USD"))

    Errors are `RecordingError`s (a ValueError) with `path` and `line`: a bad header at
    construction, a bad record when iteration reaches it. A file still being recorded
    can be read: what has been flushed so far is seen.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        with open(self.path, "rb") as f:
            first = f.readline()
        header = self._parse_header(first)
        self.version: int = header["version"]
        self.created_ns: int = header["created_ns"]
        self.meta: dict[str, Any] = header["meta"]

    def _error(self, line: int, message: str) -> RecordingError:
        return RecordingError(self.path, line, message)

    def _parse_header(self, raw: bytes) -> dict[str, Any]:
        if not raw:
            raise self._error(1, "empty file: not a tradekit recording")
        if not raw.endswith(b"\n"):
            raise self._error(1, "header line cut short (no newline): not a complete recording")
        try:
            header = jsonl.loads(raw)
        except ValueError as e:
            raise self._error(
                1, f"not a tradekit recording (the header is not JSON: {e})"
            ) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self._error(1, f"not a tradekit recording (no header with format {FORMAT!r})")
        version = header.get("version")
        if not _is_int(version):
            raise self._error(1, f"header.version: expected an integer, got {_short(version)}")
        if version != VERSION:
            raise self._error(
                1, f"unsupported recording version {version} (this tradekit reads {VERSION})"
            )
        extra = sorted(set(header) - _HEADER_KEYS)
        if extra:
            raise self._error(1, f"header.{extra[0]}: unexpected field")
        created_ns, meta = header.get("created_ns"), header.get("meta")
        if not _is_time(created_ns):
            raise self._error(
                1, f"header.created_ns: expected an integer ns time, got {_short(created_ns)}"
            )
        if not isinstance(meta, dict):
            raise self._error(1, f"header.meta: expected an object, got {_short(meta)}")
        return header

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        """`(recv_ns, event)` pairs in file order, read as they are asked for (a last
        line cut short by a crash mid-write is not a record)."""
        lines = jsonl.read(self.path)
        try:
            first = next(lines, None)
            self._parse_header(b"" if first is None else first[1] + b"\n")
            for lineno, raw in lines:
                yield self._parse_record(raw, lineno)
        finally:
            lines.close()

    def _parse_record(self, raw: bytes, lineno: int) -> tuple[int, Any]:
        try:
            rec = jsonl.parse(raw, self.path, lineno)
        except JsonlError as e:
            raise self._error(lineno, e.message) from None
        if rec.keys() != _RECORD_KEYS:
            missing = sorted(_RECORD_KEYS - rec.keys())
            if missing:
                raise self._error(lineno, f"{missing[0]}: missing")
            raise self._error(lineno, f"{sorted(rec.keys() - _RECORD_KEYS)[0]}: unexpected field")
        recv_ns = rec["recv_ns"]
        if not _is_time(recv_ns):
            raise self._error(
                lineno, f"recv_ns: expected an integer ns time, got {_short(recv_ns)}"
            )
        try:
            event = _decode(rec["event"])
        except ValueError as e:
            raise self._error(lineno, str(e)) from None
        return recv_ns, event

    def events(self) -> Iterator[Any]:
        """The events alone, in file order."""
        for _, ev in self:
            yield ev

    def trades(self, product_id: str | None = None) -> list[MarketTrade]:
        """The market trades (of one product, if given), in file order, as a new list."""
        return [
            ev
            for _, ev in self
            if type(ev) is MarketTrade and (product_id is None or ev.product_id == product_id)
        ]

    def ticks_source(self, product_id: str | None = None) -> Callable[[int], Iterator[MarketTrade]]:
        """The engine's `ticks` argument: `source(start)` -> the trades from index `start`
        on. The file is read once, here; each call then only slices that list."""
        trades = self.trades(product_id)

        def ticks(start: int = 0) -> Iterator[MarketTrade]:
            if start < 0:
                raise ValueError(f"start must be >= 0, got {start}")
            return iter(trades[start:])

        return ticks

    def __repr__(self) -> str:
        return f"Recording({self.path!r}, version {self.version}, meta {self.meta!r})"


def _as_recording(recording: Recording | PathLike) -> Recording:
    return recording if isinstance(recording, Recording) else Recording(recording)


# ---------------------------------------------------------------------------- replaying


class _Pacer:
    """Turns recv_ns gaps into wall-time delays: gap / speed, each capped at max_gap_s.

    Delays are measured against a schedule, not slept one by one, so time spent printing
    does not add up; a replay that falls behind catches up without sleeping."""

    def __init__(self, speed: float, max_gap_s: float, clock: Callable[[], float]) -> None:
        if isinstance(speed, bool) or not (isinstance(speed, int | float) and speed > 0):
            raise ValueError(f"speed must be a positive number or None, got {speed!r}")
        if not math.isfinite(speed):
            raise ValueError(f"speed must be finite, got {speed!r}")
        if not max_gap_s >= 0:
            raise ValueError(f"max_gap_s must be >= 0, got {max_gap_s!r}")
        self.speed = float(speed)
        self.max_gap_s = max_gap_s
        self.clock = clock
        self._prev_ns: int | None = None
        self._due = 0.0

    def delay(self, recv_ns: int) -> float:
        """Seconds to wait before the event received at `recv_ns`. The schedule never
        lags the clock by more than `max_gap_s`: after a stall (a slow simulator, a
        debugger) the replay catches up in a burst of at most that much recorded time."""
        now = self.clock()
        if self._prev_ns is None:
            self._due = now
        else:
            gap_s = max(0, recv_ns - self._prev_ns) / 1e9 / self.speed
            self._due = max(self._due + min(gap_s, self.max_gap_s), now - self.max_gap_s)
        self._prev_ns = recv_ns
        return max(0.0, self._due - now)


def replay_into_sim(
    recording: Recording | PathLike,
    sim_market: Any,
    product_ids: Iterable[str] | None = None,
    speed: float | None = None,
    *,
    max_gap_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Print the recording's market trades (of `product_ids`, if given) on a simulator
    through `sim_market.advance(trade)` (a `tradekit.sim.client.SimMarket`, or anything
    with that method, e.g. a PaperExchange). Returns the number of trades printed.

    `speed=None` prints as fast as possible; a number replays at that multiple of real
    time, spacing the trades by their `recv_ns` gaps, each wait capped at `max_gap_s`
    seconds (a quiet night in the recording does not stall the replay).
    """
    rec = _as_recording(recording)
    wanted = None if product_ids is None else frozenset(product_ids)
    pacer = None if speed is None else _Pacer(speed, max_gap_s, clock)
    n = 0
    for recv_ns, ev in rec:
        if type(ev) is not MarketTrade or (wanted is not None and ev.product_id not in wanted):
            continue
        if pacer is not None:
            wait = pacer.delay(recv_ns)
            if wait > 0:
                sleep(wait)
        sim_market.advance(ev)
        n += 1
    return n


async def replay_async(
    recording: Recording | PathLike,
    speed: float | None = None,
    *,
    max_gap_s: float = 5.0,
) -> AsyncGenerator[Any, None]:
    """The recording's events as an async iterator (for the async engine or a notebook).

    `speed` as in `replay_into_sim` (spacing from `recv_ns`, waits with asyncio.sleep).
    As fast as possible, it still lets other tasks run every 1024 events.
    """
    rec = _as_recording(recording)
    pacer = None if speed is None else _Pacer(speed, max_gap_s, time.monotonic)
    n = 0
    for recv_ns, ev in rec:
        if pacer is not None:
            wait = pacer.delay(recv_ns)
            if wait > 0:
                await asyncio.sleep(wait)
        else:
            n += 1
            if n % 1024 == 0:
                await asyncio.sleep(0)
        yield ev
