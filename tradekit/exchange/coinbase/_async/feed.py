"""Coinbase Advanced Trade WebSocket feed: market trades and the user channel, with no
fill missed and none counted twice. Written once, async; the sync twin is generated.

What makes it safe:
- every message carries `sequence_num`; a jump means lost messages and a repeat a
  duplicate. A repeat is dropped; a jump (or a message that cannot be read, or a
  reconnect) triggers a resync of every tracked order from REST;
- the user channel reports cumulative quantities. The feed emits an order only when
  its status or `cumulative_quantity` changed, as an `OrderStatusReport` carrying the
  cumulative figures; the core books only the increase over what it knows, so a
  snapshot, a resync or a repeated update can never count a fill twice;
- a resync runs beside the reader, so market data keeps flowing meanwhile; one whose REST
  calls fail marks the pairs degraded and is retried with back-off, never ending the
  stream;
- the connection is watched by heartbeats; silence or a drop reconnects with jittered
  backoff and subscribes again (with a fresh JWT, also renewed before it expires).
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from tradekit.core.events import MarketTrade, OrderStatusReport
from tradekit.core.money import ZERO
from tradekit.core.orders import OrderStatus
from tradekit.exchange.coinbase import wire
from tradekit.exchange.coinbase._async._compat import (
    Job,
    close_websocket,
    open_websocket,
    sleep,
    wait_for_message,
)
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.exchange.types import ExchangeOrder, status_report

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
RESYNC_WATCH_S = 0.05  # while a resync runs, the socket is read in slices this long
RESYNC_BACKOFF_MIN_S = 0.5  # a failed resync is tried again after 0.5 s, 1 s, 2 s...
RESYNC_BACKOFF_MAX_S = 30.0


def market_labels(product_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Market-data label -> the configured product ids it stands for (a -USDC pair's
    data comes labelled -USD; a -USD pair configured too gets the same trades)."""
    out: dict[str, tuple[str, ...]] = {}
    for pid in product_ids:
        label = wire.market_data_label(pid)
        out[label] = (*out.get(label, ()), pid)
    return out


def _digits(text: str) -> bool:
    return 0 < len(text) <= 30 and text.isascii() and text.isdigit()


FeedEvent = MarketTrade | OrderStatusReport


@dataclass
class FeedStats:
    messages: int = 0
    gaps: int = 0
    duplicates: int = 0
    bad_messages: int = 0
    reconnects: int = 0
    resyncs: int = 0
    stale_trades: int = 0  # market trades older than one already passed on (dropped)
    resync_failures: int = 0  # resyncs whose REST calls failed (each retried with back-off)
    last_error: str = ""


@dataclass
class _Tracked:
    order_id: str
    status: OrderStatus
    cumulative: Decimal
    triggered: bool


@dataclass
class FeedConfig:
    heartbeat_timeout_s: float = 5.0  # silence this long = a dead connection
    jwt_refresh_s: float = 90.0  # subscribe again with a fresh JWT (they last 120 s)
    reconnect_base_s: float = 0.05
    reconnect_max_s: float = 5.0
    max_reconnects: int | None = None  # None: forever
    channels: Sequence[str] = ("heartbeats", "market_trades", "user")
    extra: dict[str, Any] = field(default_factory=dict)


class AsyncCoinbaseFeed:
    """One WebSocket connection for market trades and the user's orders."""

    def __init__(
        self,
        url: str,
        product_ids: Sequence[str],
        credentials: Credentials | None = None,
        *,
        rest: AsyncCoinbaseRest | None = None,
        ca_file: str | None = None,
        config: FeedConfig | None = None,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.product_ids = list(product_ids)
        self.credentials = credentials
        self.rest = rest
        self.config = config or FeedConfig()
        self.stats = FeedStats()
        self._ssl = ssl.create_default_context(cafile=ca_file) if url.startswith("wss") else None
        self._rng = random.Random(seed)
        self._orders: dict[str, _Tracked] = {}
        self._seq: int | None = None
        self._ws: Any = None
        self._closed = False
        self._resync_needed = False
        self._subscribed_at = 0.0
        self._last_trade_ts: dict[str, int] = {}
        self._job: Job | None = None  # a resync under way
        self._resync_at = 0.0  # monotonic: not before (the back-off after a failure)
        self._resync_backoff_s = 0.0
        self._resync_ts = 0
        # pair -> why its orders' truth is unknown (a resync failed); cleared by the next
        self.degraded: dict[str, str] = {}
        self.on_trouble: Callable[[str, str], None] | None = None
        self._ids_at_last: dict[str, set[str]] = {}  # trade ids already passed on at that ts
        self._labels = market_labels(self.product_ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, {self.product_ids!r})"

    # -- the stream ----------------------------------------------------------------

    async def events(self, limit: int | None = None) -> AsyncIterator[FeedEvent]:
        """Trades and order reports, in order, across reconnects; stops after `limit`
        events when given, or when `close()` is called."""
        emitted = 0
        failures = 0
        while not self._closed:
            try:
                await self._connect()
                failures = 0
                async for ev in self._session():
                    yield ev
                    emitted += 1
                    if limit is not None and emitted >= limit:
                        return
            except (ConnectionClosed, OSError, TimeoutError, InvalidHandshake, InvalidURI) as e:
                self.stats.last_error = f"{type(e).__name__}: {e}"
            finally:
                await self._drop()
            if self._closed:
                return
            failures += 1
            self.stats.reconnects += 1
            max_r = self.config.max_reconnects
            if max_r is not None and self.stats.reconnects > max_r:
                raise ConnectionError(f"feed: gave up after {max_r} reconnects")
            cap = min(self.config.reconnect_max_s, self.config.reconnect_base_s * 2**failures)
            await sleep(self._rng.uniform(0, cap))
            self._resync_needed = True  # anything may have happened while away

    async def close(self) -> None:
        self._closed = True
        if self._job is not None:
            self._job.cancel()
            self._job = None
        await self._drop()

    async def _connect(self) -> None:
        self._seq = None
        self._ws = await open_websocket(
            self.url, ssl=self._ssl, max_size=MAX_MESSAGE_BYTES, open_timeout=10
        )
        await self._subscribe()

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(ConnectionClosed, OSError):
                await close_websocket(ws)

    async def _subscribe(self) -> None:
        for channel in self.config.channels:
            msg: dict[str, Any] = {"type": "subscribe", "channel": channel}
            if channel != "heartbeats":
                msg["product_ids"] = self._subscribed_ids(channel)
            if self.credentials is not None:
                msg["jwt"] = self.credentials.ws_jwt()
            await self._ws.send(json.dumps(msg))
        self._subscribed_at = time.monotonic()

    def _subscribed_ids(self, channel: str) -> list[str]:
        """The user channel takes the configured ids; Coinbase's market channels take
        only the -USD id of a -USDC pair ("the user channel is the only one that accepts
        -USDC product IDs"), whose data comes labelled -USD anyway."""
        return self.product_ids if channel == "user" else list(self._labels)

    async def _session(self) -> AsyncIterator[FeedEvent]:
        while not self._closed:
            for ev in self._resync_step():
                yield ev
            if time.monotonic() - self._subscribed_at > self.config.jwt_refresh_s:
                await self._subscribe()  # a fresh JWT before the old one expires
            raw = await self._next_message()
            if raw is None:
                continue  # a resync finished: what it found goes first
            for ev in self._receive(raw):
                yield ev

    async def _next_message(self) -> str | bytes | None:
        """The next message, or None when a running resync finished first: while one
        runs the socket is watched in short slices, so that what it found is passed on
        at once (silence still counts from the last message)."""
        if self._job is None:
            return await wait_for_message(self._ws, self.config.heartbeat_timeout_s)
        deadline = time.monotonic() + self.config.heartbeat_timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message for {self.config.heartbeat_timeout_s:g} s")
            try:
                return await wait_for_message(self._ws, min(left, RESYNC_WATCH_S))
            except TimeoutError:
                if self._job is None or self._job.done():
                    return None

    # -- parsing (pure, shared) ----------------------------------------------------

    def _receive(self, raw: str | bytes) -> list[FeedEvent]:
        self.stats.messages += 1
        try:
            msg = wire.message(raw)  # bounded: nesting, NaN/Infinity
        except wire.WireError as e:
            return self._bad(str(e))
        if msg.get("type") == "error":
            self.stats.last_error = f"exchange error: {msg.get('message', '')}"
            return []
        seq = msg.get("sequence_num")
        if not isinstance(seq, int) or isinstance(seq, bool):
            return self._bad(f"message.sequence_num: expected an integer, got {seq!r}")
        if self._seq is not None:
            if seq <= self._seq:
                self.stats.duplicates += 1
                return []
            if seq > self._seq + 1:
                self.stats.gaps += 1
                self._resync_needed = True
        self._seq = seq
        try:
            return self._events_of(msg)
        except wire.WireError as e:
            return self._bad(str(e))

    def _bad(self, why: str) -> list[FeedEvent]:
        self.stats.bad_messages += 1
        self.stats.last_error = why
        self._resync_needed = True  # what it said is lost: ask REST instead
        return []

    def _events_of(self, msg: dict[str, Any]) -> list[FeedEvent]:
        channel = msg.get("channel")
        events = wire.items(msg, "events", "message")
        out: list[FeedEvent] = []
        if channel == "market_trades":
            out += self._market_trades(events)
        elif channel == "user":
            ts = wire.timestamp_ns(msg, "timestamp", "message")
            for i, e in enumerate(events):
                e = wire.obj(e, f"events[{i}]")
                for j, o in enumerate(wire.items(e, "orders", f"events[{i}]")):
                    report = self._user_order(wire.obj(o, f"events[{i}].orders[{j}]"), ts, i, j)
                    if report is not None:
                        out.append(report)
        return out

    def _market_trades(self, events: list[Any]) -> list[FeedEvent]:
        """The trades of one `market_trades` message, oldest first, under the product
        ids the user configured.

        Coinbase sends a batch newest first: taken in that order, every trade after the
        first would look older than the one just passed on and be dropped, and the
        engine would see one price a batch (missing the highs inside it). A -USDC
        product's trades arrive labelled -USD (`wire.market_data_label`): they are
        passed on under each configured id they stand for.
        """
        batch: list[tuple[int, int, int, MarketTrade]] = []
        for i, e in enumerate(events):
            e = wire.obj(e, f"events[{i}]")
            if e.get("type") == "snapshot":
                continue  # recent history, sent again on every subscribe: not news
            for j, t in enumerate(wire.items(e, "trades", f"events[{i}]")):
                where = f"events[{i}].trades[{j}]"
                t = wire.obj(t, where)
                label = wire.text(t, "product_id", where)
                trade = MarketTrade(
                    label,
                    wire.positive(t, "price", where),
                    wire.positive(t, "size", where),
                    wire.timestamp_ns(t, "time", where),
                    wire.text(t, "trade_id", where, ""),
                )
                tid = trade.trade_id
                # same time: Coinbase's trade ids count up (digits); else as listed, reversed
                batch.append((trade.ts, int(tid) if _digits(tid) else 0, -len(batch), trade))
        batch.sort(key=lambda b: b[:3])
        out: list[FeedEvent] = []
        for *_, trade in batch:
            for pid in self._labels.get(trade.product_id, (trade.product_id,)):
                mine = trade if pid == trade.product_id else replace(trade, product_id=pid)
                if self._is_new(mine):
                    out.append(mine)
        return out

    def _is_new(self, trade: MarketTrade) -> bool:
        """Time only goes forward: a trade older than one already passed on (a replay
        after a reconnect) or repeated (same time, same trade id) is dropped, so the
        engine never sees the past."""
        pid = trade.product_id
        last = self._last_trade_ts.get(pid)
        if last is not None and trade.ts <= last:
            seen = self._ids_at_last[pid]
            if trade.ts < last or (trade.trade_id and trade.trade_id in seen):
                self.stats.stale_trades += 1
                return False
            seen.add(trade.trade_id)
            return True
        self._last_trade_ts[pid] = trade.ts
        self._ids_at_last[pid] = {trade.trade_id}
        return True

    def _user_order(self, o: dict[str, Any], ts: int, i: int, j: int) -> OrderStatusReport | None:
        where = f"events[{i}].orders[{j}]"
        coid = wire.text(o, "client_order_id", where, "")
        status = wire.order_status(o, "status", where)
        cumulative = wire.dec(o, "cumulative_quantity", where, ZERO)
        avg = wire.dec(o, "avg_price", where, ZERO)
        value = wire.opt_dec(o, "filled_value", where)
        fees = wire.dec(o, "total_fees", where, ZERO)
        triggered = o.get("trigger_status") == "STOP_TRIGGERED"
        return self._track(
            OrderStatusReport(
                coid,
                status,
                ts,
                order_id=wire.text(o, "order_id", where),
                filled_size=cumulative,
                filled_value=value if value is not None else cumulative * avg,
                total_fees=fees,
                triggered=triggered,
            )
        )

    def _track(self, r: OrderStatusReport) -> OrderStatusReport | None:
        """Emit only what changed; never let a report go back in fills."""
        cumulative = r.filled_size if r.filled_size is not None else ZERO
        key = r.client_order_id or r.order_id or ""  # an order placed by hand may have no coid
        known = self._orders.get(key)
        if known is not None:
            if cumulative < known.cumulative:
                return None  # older than what was already reported
            if (known.status, known.cumulative, known.triggered) == (
                r.status,
                cumulative,
                bool(r.triggered),
            ):
                return None
        self._orders[key] = _Tracked(r.order_id or "", r.status, cumulative, bool(r.triggered))
        return r

    # -- resync: the truth of every order from REST, off the reader ----------------

    def _resync_step(self) -> list[FeedEvent]:
        """Start a resync when one is due, or pass on what a finished one found.

        A resync runs beside the reader (a `Job`), so market data keeps flowing while
        its REST calls last or retry. One that fails (the exchange down, rate limited,
        a bad reply) never ends the stream: every pair is marked degraded (`degraded`,
        and `on_trouble(product_id, reason)`), and it is tried again after a jittered
        exponential back-off; the first full answer clears the marks."""
        job = self._job
        if job is not None:
            if not job.done():
                return []
            self._job = None
            try:
                orders = job.result()
            except Exception as exc:  # any failure of the exchange: retried, never fatal
                self._resync_failed(exc)
                return []
            self._resync_backoff_s = 0.0
            self.degraded.clear()
            return self._resync_reports(orders)
        if not self._resync_needed or time.monotonic() < self._resync_at:
            return []
        self._resync_needed = False
        if self.rest is None or "user" not in self.config.channels:
            return []
        self.stats.resyncs += 1
        pending = [
            (coid, t.order_id) for coid, t in self._orders.items() if not t.status.is_terminal
        ]
        self._resync_ts = time.time_ns()
        self._job = Job(functools.partial(self._resync_fetch, pending))
        return []

    async def _resync_fetch(self, pending: list[tuple[str, str]]) -> dict[str, ExchangeOrder]:
        """The REST half of a resync: every open order of our pairs, and each order we
        track as open that is no longer listed (filled or cancelled meanwhile)."""
        assert self.rest is not None
        orders: dict[str, ExchangeOrder] = {}
        for pid in self.product_ids:
            for o in await self.rest.list_open_orders(pid):
                orders[o.client_order_id] = o
        for coid, order_id in pending:
            if coid in orders or not order_id:
                continue
            found = await self.rest.get_order(order_id)
            if found is not None:
                orders[coid] = found
        return orders

    def _resync_reports(self, orders: dict[str, ExchangeOrder]) -> list[FeedEvent]:
        """What a resync found that the stream has not said. The user channel may have
        moved on while the REST calls ran: an order it already reported ended is not
        reported open again (and `_track` never lets fills go back)."""
        out: list[FeedEvent] = []
        for coid, o in orders.items():
            known = self._orders.get(coid)
            if known is not None and known.status.is_terminal and not o.status.is_terminal:
                continue
            report = self._track(status_report(o, self._resync_ts))
            if report is not None:
                out.append(report)
        return out

    def _resync_failed(self, exc: Exception) -> None:
        self.stats.resync_failures += 1
        reason = f"resync failed ({type(exc).__name__}: {exc})"[:300]
        self.stats.last_error = reason
        self._resync_needed = True
        self._resync_backoff_s = min(
            RESYNC_BACKOFF_MAX_S, max(RESYNC_BACKOFF_MIN_S, self._resync_backoff_s * 2)
        )
        self._resync_at = time.monotonic() + self._rng.uniform(0.5, 1.0) * self._resync_backoff_s
        for pid in self.product_ids:
            self.degraded[pid] = reason
            if self.on_trouble is not None:
                self.on_trouble(pid, reason)
