"""The simulator's WebSocket feed: Coinbase Advanced Trade channels over starlette.

Routes (`ws_routes(state)`; mount them BEFORE any catch-all `Mount("/")` of the app):
- `/ws` and `/`: the market-data host (`wss://advanced-trade-ws.coinbase.com`). `/` is
  there because the official SDK connects to its base URL as given (`ws://127.0.0.1:PORT`
  has path `/`). It serves every channel, `user` included (Coinbase suggests this host as
  the failover for user data).
- `/ws/user`: the user-data host (`wss://advanced-trade-ws-user.coinbase.com`): only
  `heartbeats`, `user` and `futures_balance_summary`; any other channel gets an error.

Protocol (coinbase_api.md, section WebSocket): `{"type": "subscribe" | "unsubscribe",
"product_ids": [...], "channel": "...", "jwt": "..."}`, one channel per message. Every
message the server sends is an envelope `{"channel", "client_id": "", "timestamp":
RFC3339Nano, "sequence_num", "events": [...]}`; `sequence_num` counts per connection from
0, one per message (the `subscriptions` acknowledgements included, as on Coinbase).
Errors are `{"type": "error", "message": "..."}`, carry no sequence number, and the
connection keeps serving: malformed JSON, a non-object, missing `type` / `channel` /
`product_ids` (required for ticker, ticker_batch, level2, market_trades, candles),
unknown type, channel or product, a channel the host does not serve, `user` /
`futures_balance_summary` without or with a bad JWT (`authentication failure`; checked by
`auth.verify_ws_jwt`; an unsubscribe needs no JWT), and a message over
`WsConfig.max_message_bytes` (64 KiB: refused with an error, not a close; uvicorn's own
`ws_max_size`, 16 MiB by default, still closes with 1009 beyond that).

Per subscription: a snapshot first (then the `subscriptions` ack listing what the
connection is subscribed to), then updates. Updates are built from the state's bus. When
the market runs fast, the bus messages that piled up since the last round (at most
`max_batch`) go out together: one `market_trades` message with all their trades, one
`ticker` per product with the latest price (Coinbase's ticker "batches updates in case of
cascading matches"), one `l2_data` diff per product, one `candles` message, one `user`
message with every order change in order (never coalesced: each change is an order).
- heartbeats: every `heartbeat_interval_s` (1 s) `{"current_time", "heartbeat_counter"}`,
  counter an integer from 1 per connection; current_time in Go's time format, as Coinbase.
- ticker / ticker_batch: figures from `state.history` (see history.py: 24 h at one-minute
  resolution, "52 w" = since start); best bid/ask from the synthetic book. ticker_batch
  sends every `ticker_batch_interval_s` (Coinbase: 5 s) the products that traded since.
- level2 (channel `l2_data`): `market.synth_book` around the last price (the paper
  exchange has no book), `book_levels` a side; updates are the diff against what this
  connection was last sent (quantity "0" removes a level).
- market_trades: snapshot of the last `snapshot_trades` (50) trades, newest first; updates
  newest first too (a batch of trades printed together is listed newest first, as
  Coinbase does). `side` by the tick rule (history.tick_side): the paper exchange prints
  no aggressor.
- -USDC products (other than USDT-USDC and EURC-USDC): their market data (market_trades,
  ticker, level2, candles) comes labelled with the matching -USD id, as Coinbase
  documents, whether subscribed by the -USDC id or (when the simulator lists no such
  -USD product) by the -USD id; the `user` channel keeps the -USDC id.
- candles: five-minute candles from the one-minute bars: the current candle of each
  product after each round (snapshot: the current candle).
- status: a snapshot of the products (all, or those listed); products never change.
- user (JWT): snapshot(s) of open orders, 50 orders per event, one message per event
  (one empty snapshot when there are none), then updates for every order change on the
  bus, optionally filtered by product_ids. A user subscription stays after its JWT's
  `exp` (unconfirmed on Coinbase). Public channels ignore a `jwt` when given. Order
  fields are the SDK's `UserOrders`, all strings: `leaves_quantity` is "0" once the
  order is done (filled or cancelled), `avg_price` "0" before a fill, `stop_price` ""
  on a limit order, `trigger_status` INVALID_ORDER_TYPE / STOP_PENDING / STOP_TRIGGERED,
  `outstanding_hold_amount` what the paper exchange holds (quote for a buy, base for a
  sell), `completion_percentage` with two decimals, `post_only` "false", `order_type`
  in words as Coinbase spells it here ("Limit", "Stop Limit", "Market", "Bracket"; REST
  says LIMIT, STOP_LIMIT, ...).
- futures_balance_summary (JWT): one snapshot of zeros (a spot-only account).

Closes: no subscription within `subscribe_timeout_s` (5 s) of connecting -> 1008; a
connection whose bus queue overflowed (a slow consumer) -> 1008 "slow consumer"
(policy: the client did not keep up; messages were lost, so the stream must be rebuilt).
A client that stopped reading altogether may not get that close frame (its socket is
full): the connection is then cut after one second.

Faults (`state.faults`, read for every message, drawn from `state.rng` only when on):
`ws_skip_seq` jumps the counter by one before a message; `ws_dup_seq` sends a message
twice with the same sequence_num; `ws_drop_rate` consumes a sequence_num without sending;
`ws_drop_after` closes with 1011 (an abnormal close: clients reconnect) once that many
envelope messages were sent on the connection (errors do not count).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from tradekit.core.events import MarketTrade
from tradekit.exchange.coinbase.wire import market_data_label
from tradekit.exchange.types import ExchangeOrder
from tradekit.sim import ws_payloads as payloads
from tradekit.sim.auth import AuthError, verify_ws_jwt
from tradekit.sim.history import tick_side
from tradekit.sim.state import BusMessage, SimState, Subscription
from tradekit.sim.ws_payloads import rfc3339nano

__all__ = ["WsConfig", "rfc3339nano", "ws_routes"]

log = logging.getLogger(__name__)

MARKET_HOST_CHANNELS = frozenset(
    {
        "heartbeats",
        "ticker",
        "ticker_batch",
        "level2",
        "market_trades",
        "candles",
        "status",
        "user",
        "futures_balance_summary",
    }
)
USER_HOST_CHANNELS = frozenset({"heartbeats", "user", "futures_balance_summary"})
AUTH_CHANNELS = frozenset({"user", "futures_balance_summary"})
PRODUCT_CHANNELS = frozenset({"ticker", "ticker_batch", "level2", "market_trades", "candles"})
_ALL = "*"  # the key of a subscription that is not per product
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PCT = Decimal("0.00000001")
_T0 = time.monotonic()
_WATCH_S = 0.1  # how often a connection checks its subscribe deadline and bus overflow
_SLOW = "slow consumer: fell too far behind the feed"
_Message = tuple[str, list[dict[str, Any]]]  # (channel, events) of one envelope
_EMPTY_POSITIONS: dict[str, list[Any]] = {
    "perpetual_futures_positions": [],
    "expiring_futures_positions": [],
}


@dataclass(frozen=True)
class WsConfig:
    """Timings and limits (the defaults are Coinbase's; tests shorten them)."""

    subscribe_timeout_s: float = 5.0
    heartbeat_interval_s: float = 1.0
    ticker_batch_interval_s: float = 5.0
    max_message_bytes: int = 64 * 1024
    max_batch: int = 1000  # bus messages taken per round
    snapshot_trades: int = 50
    user_snapshot_batch: int = 50
    book_levels: int = 10
    candle_granularity_s: int = 300


def ws_routes(state: SimState, config: WsConfig | None = None) -> list[BaseRoute]:
    """The WebSocket endpoints: `/ws` and `/` (market data), `/ws/user` (user data)."""
    cfg = config or WsConfig()

    async def market_host(websocket: WebSocket) -> None:
        await _Connection(websocket, state, cfg, MARKET_HOST_CHANNELS).serve()

    async def user_host(websocket: WebSocket) -> None:
        await _Connection(websocket, state, cfg, USER_HOST_CHANNELS).serve()

    return [
        WebSocketRoute("/ws", market_host),
        WebSocketRoute("/ws/user", user_host),
        WebSocketRoute("/", market_host),
    ]


# ------------------------------------------------------------------------------ JWT


def _jwt_ok(state: SimState, token: object) -> bool:
    """Whether a subscribe message's `jwt` passes `auth.verify_ws_jwt` (ES256, known
    kid, iss cdp, sub = kid, nbf/exp). The refusal's reason is logged, never the token."""
    if not isinstance(token, str) or not token:
        return False
    try:
        verify_ws_jwt(state, token)
    except AuthError as exc:
        log.info("websocket JWT refused: %s", exc)
        return False
    return True


# ----------------------------------------------------------------------- connection


class _Stop(Exception):
    """This connection is ending (its close is already requested)."""


class _Connection:
    """One WebSocket: a reader task, a bus pump, timers; every send under `lock`.

    Holding `lock` while building and sending keeps `sequence_num` in send order and
    makes a subscription's snapshot and its first updates consistent: a subscription
    is active from the bus message index `active_from` (messages already queued when
    it was made are reflected in the snapshot and skipped for it).
    """

    def __init__(
        self, ws: WebSocket, state: SimState, cfg: WsConfig, channels: frozenset[str]
    ) -> None:
        self.ws = ws
        self.state = state
        self.cfg = cfg
        self.channels = channels
        self.lock = asyncio.Lock()
        self.seq = 0
        self.sent = 0
        self.subs: dict[str, dict[str, int]] = {}  # channel -> {product_id | _ALL: active_from}
        self.ever_subscribed = False
        self.consumed = 0  # bus messages taken so far (the index of the next one)
        self.heartbeat_counter = 0
        self.books: dict[str, dict[tuple[str, Decimal], Decimal]] = {}  # level2 as last sent
        self.ticks: dict[str, tuple[Decimal | None, str]] = {}  # market_trades tick rule
        self.batch_dirty: dict[str, MarketTrade] = {}  # ticker_batch: traded since last
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.sub: Subscription | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def serve(self) -> None:
        await self.ws.accept()
        self.sub = self.state.bus.subscribe()
        tasks = [
            asyncio.create_task(self._guard(job))
            for job in (
                self._read(),
                self._pump(self.sub),
                self._heartbeats(),
                self._ticker_batches(),
                self._watchdog(self.sub),
            )
        ]
        try:
            await self.closed.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.state.bus.unsubscribe(self.sub)
            if self.close_code is not None:
                # bounded: a client that stopped reading would block the close frame too
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(self.close_code, self.close_reason), 1.0)

    def _finish(self, code: int | None, reason: str = "") -> None:
        """Ask `serve` to end the connection (first caller wins); None: already gone."""
        if not self.closed.is_set():
            self.close_code = code
            self.close_reason = reason
            self.closed.set()

    async def _guard(self, job: Coroutine[Any, Any, None]) -> None:
        try:
            await job
        except _Stop:
            pass
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            self._finish(None)
        except Exception:
            log.exception("websocket connection failed")
            self._finish(1011, "internal error")

    async def _watchdog(self, sub: Subscription) -> None:
        """Close a connection that never subscribes, or whose bus queue overflowed.

        The overflow is watched here and not only in the pump: a client that stops
        reading blocks the pump inside a send once the socket buffers are full.
        """
        loop = asyncio.get_running_loop()
        timeout = self.cfg.subscribe_timeout_s
        deadline = loop.time() + timeout
        while True:
            await asyncio.sleep(min(_WATCH_S, timeout))
            if sub.overflowed:
                self._finish(1008, _SLOW)
                return
            if not self.ever_subscribed and loop.time() >= deadline:
                self._finish(1008, f"no subscription within {timeout:g} s")
                return

    # -- sending (callers hold `lock`) --------------------------------------------------

    async def _emit(self, channel: str, events: list[dict[str, Any]]) -> None:
        """Send one envelope, applying the sequence faults; raises _Stop when closing."""
        faults = self.state.faults
        struck = self.state.faults_injected
        rng = self.state.rng
        drop_after = faults.ws_drop_after
        if drop_after is not None and self.sent >= drop_after:
            struck["ws_drop_after"] += 1
            self._finish(1011, "fault: ws_drop_after")
            raise _Stop
        if faults.ws_skip_seq and rng.random() < faults.ws_skip_seq:
            struck["ws_skip_seq"] += 1
            self.seq += 1
        seq = self.seq
        self.seq += 1
        if faults.ws_drop_rate and rng.random() < faults.ws_drop_rate:
            struck["ws_drop_rate"] += 1
            return
        text = json.dumps(
            {
                "channel": channel,
                "client_id": "",
                "timestamp": payloads.rfc3339nano(self.state.now()),
                "sequence_num": seq,
                "events": events,
            },
            separators=(",", ":"),
        )
        copies = 1
        if faults.ws_dup_seq and rng.random() < faults.ws_dup_seq:
            struck["ws_dup_seq"] += 1
            copies = 2
        for _ in range(copies):
            await self.ws.send_text(text)
            self.sent += 1
            if drop_after is not None and self.sent >= drop_after:
                struck["ws_drop_after"] += 1
                self._finish(1011, "fault: ws_drop_after")
                raise _Stop

    async def _error(self, message: str) -> None:
        async with self.lock:
            await self.ws.send_text(json.dumps({"type": "error", "message": message}))

    # -- client messages ----------------------------------------------------------------

    async def _read(self) -> None:
        limit = self.cfg.max_message_bytes
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                self._finish(None)
                return
            text: str | None = message.get("text")
            data: bytes | None = message.get("bytes")
            size = len(text.encode()) if text is not None else len(data or b"")
            if size > limit:
                await self._error(f"message too large: {size} bytes (limit {limit})")
                continue
            if text is None:
                try:
                    text = (data or b"").decode()
                except UnicodeDecodeError:
                    await self._error("malformed JSON: not UTF-8 text")
                    continue
            try:
                request = json.loads(text)
            except ValueError:
                await self._error("malformed JSON")
                continue
            problem = await self._handle(request)
            if problem is not None:
                await self._error(problem)

    async def _handle(self, request: Any) -> str | None:
        """Apply one subscribe/unsubscribe; the error message when it is refused."""
        if not isinstance(request, dict):
            return "malformed message: expected a JSON object"
        kind = request.get("type")
        if kind is None:
            return "missing field 'type'"
        if kind not in ("subscribe", "unsubscribe"):
            return f"unknown message type {kind!r}: expected 'subscribe' or 'unsubscribe'"
        channel = request.get("channel")
        if channel is None:
            hint = " (one channel per message, not 'channels')" if "channels" in request else ""
            return f"missing field 'channel'{hint}"
        if not isinstance(channel, str) or channel not in MARKET_HOST_CHANNELS:
            return f"unknown channel {channel!r}"
        if channel not in self.channels:
            return (
                f"channel {channel!r} is not served on the user data host "
                "(it serves heartbeats, user, futures_balance_summary; use /ws)"
            )
        raw_ids = request.get("product_ids", [])
        if not isinstance(raw_ids, list) or not all(isinstance(p, str) for p in raw_ids):
            return "product_ids must be a list of strings"
        products = self.state.exchange.products
        if channel in PRODUCT_CHANNELS:  # X-USD names X-USDC's market data (one book)
            raw_ids = [payloads.usdc_book(pid, products) for pid in raw_ids]
        for pid in raw_ids:
            if pid not in products:
                return f"unknown product_id {pid!r}"
        product_ids = list(dict.fromkeys(raw_ids))
        if kind == "unsubscribe":
            await self._unsubscribe(channel, product_ids)
            return None
        if channel in PRODUCT_CHANNELS and not product_ids:
            return f"missing field 'product_ids': channel {channel!r} needs at least one product"
        if channel in AUTH_CHANNELS and not _jwt_ok(self.state, request.get("jwt")):
            return "authentication failure"
        await self._subscribe(channel, product_ids)
        return None

    async def _subscribe(self, channel: str, product_ids: list[str]) -> None:
        async with self.lock:
            assert self.sub is not None
            active_from = self.consumed + self.sub.queue.qsize()
            if channel in ("heartbeats", "futures_balance_summary"):
                keys = [_ALL]
            else:
                keys = product_ids or [_ALL]
            entry = self.subs.setdefault(channel, {})
            new = [k for k in keys if k not in entry]
            for key in new:
                entry[key] = active_from
            self.ever_subscribed = True
            # built before the first await: nothing can change the state in between
            messages = self._snapshots(channel, new) if new else []
            for name, events in messages:
                await self._emit(name, events)
            await self._emit("subscriptions", [{"subscriptions": self._listing()}])

    async def _unsubscribe(self, channel: str, product_ids: list[str]) -> None:
        async with self.lock:
            entry = self.subs.get(channel)
            if entry is not None:
                for key in product_ids or list(entry):
                    entry.pop(key, None)
                    if channel == "level2":
                        self.books.pop(key, None)
                    elif channel == "ticker_batch":
                        self.batch_dirty.pop(key, None)
                if not entry:
                    del self.subs[channel]
            await self._emit("subscriptions", [{"subscriptions": self._listing()}])

    def _listing(self) -> dict[str, list[str]]:
        """The `subscriptions` ack: channel -> products (heartbeats lists itself)."""
        out: dict[str, list[str]] = {}
        for channel, entry in self.subs.items():
            if channel == "heartbeats":
                out[channel] = ["heartbeats"]
            elif channel in AUTH_CHANNELS:
                out[channel] = [self.state.uuid if k == _ALL else k for k in entry]
            else:
                out[channel] = [k for k in entry if k != _ALL]
        return out

    # -- snapshots ----------------------------------------------------------------------

    def _snapshots(self, channel: str, keys: list[str]) -> list[_Message]:
        pids = [k for k in keys if k != _ALL]
        if channel in ("ticker", "ticker_batch"):
            tickers = []
            for pid in pids:
                past = self.state.history.get(pid)
                if past is not None and past.last is not None:
                    tickers.append(payloads.ticker(self.state, pid, past.last.price))
            return [(channel, [{"type": "snapshot", "tickers": tickers}])]
        if channel == "market_trades":
            trades: list[dict[str, Any]] = []
            for pid in pids:
                past = self.state.history.get(pid)
                if past is None or past.last is None:
                    self.ticks[pid] = (None, "BUY")
                    continue
                self.ticks[pid] = (past.last.price, past.last_side)
                n = min(self.cfg.snapshot_trades, len(past.trades))
                for i in range(len(past.trades) - 1, len(past.trades) - 1 - n, -1):
                    trades.append(payloads.trade(past.trades[i], past.sides[i]))
            return [(channel, [{"type": "snapshot", "trades": trades}])]
        if channel == "level2":
            out: list[_Message] = []
            for pid in pids:
                past = self.state.history.get(pid)
                book = (
                    payloads.book(self.state, pid, self.cfg.book_levels)
                    if past is not None and past.last is not None
                    else {}
                )
                self.books[pid] = book
                when = payloads.rfc3339nano(self.state.now())
                label = market_data_label(pid)
                event = {
                    "type": "snapshot",
                    "product_id": label,
                    "updates": payloads.levels(book, when),
                }
                out.append(("l2_data", [event]))
            return out
        if channel == "candles":
            candles = [
                c
                for c in (
                    payloads.candle(self.state, pid, self.cfg.candle_granularity_s) for pid in pids
                )
                if c is not None
            ]
            return [(channel, [{"type": "snapshot", "candles": candles}])]
        if channel == "status":
            products = self.state.exchange.products
            wanted = pids or sorted(products)
            listed = [payloads.product_status(products[p]) for p in wanted]
            return [(channel, [{"type": "snapshot", "products": listed}])]
        if channel == "user":
            orders = [
                o
                for o in self.state.exchange.list_open_orders()
                if not pids or o.product_id in pids
            ]
            size = self.cfg.user_snapshot_batch
            chunks = [orders[i : i + size] for i in range(0, len(orders), size)] or [[]]
            return [
                (
                    "user",
                    [
                        {
                            "type": "snapshot",
                            "orders": [payloads.user_order(self.state, o) for o in chunk],
                            "positions": _EMPTY_POSITIONS,
                        }
                    ],
                )
                for chunk in chunks
            ]
        if channel == "futures_balance_summary":
            return [(channel, [{"type": "snapshot", "fcm_balance_summary": payloads.FCM_ZEROS}])]
        return []  # heartbeats: no snapshot

    # -- the bus ------------------------------------------------------------------------

    async def _pump(self, sub: Subscription) -> None:
        queue = sub.queue
        limit = self.cfg.max_batch
        while True:
            batch = [await queue.get()]
            while len(batch) < limit:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            start = self.consumed
            self.consumed += len(batch)
            if sub.overflowed:
                self._finish(1008, _SLOW)
                raise _Stop
            async with self.lock:
                for channel, events in self._updates(batch, start):
                    await self._emit(channel, events)

    def _active(self, channel: str, key: str, index: int) -> bool:
        entry = self.subs.get(channel)
        if entry is None:
            return False
        since = entry.get(key)
        return since is not None and index >= since

    def _updates(self, batch: list[BusMessage], start: int) -> list[_Message]:
        trades: list[dict[str, Any]] = []
        tickers: dict[str, MarketTrade] = {}
        l2: dict[str, None] = {}
        candles: dict[str, None] = {}
        orders: list[ExchangeOrder] = []
        subs = self.subs
        for i, msg in enumerate(batch):
            index = start + i
            pid = msg.product_id
            trade = msg.data
            if isinstance(trade, MarketTrade):
                if "market_trades" in subs and self._active("market_trades", pid, index):
                    previous, side = self.ticks.get(pid, (None, "BUY"))
                    side = tick_side(previous, side, trade.price)
                    self.ticks[pid] = (trade.price, side)
                    trades.append(payloads.trade(trade, side))
                if "ticker" in subs and self._active("ticker", pid, index):
                    tickers[pid] = trade
                if "ticker_batch" in subs and self._active("ticker_batch", pid, index):
                    self.batch_dirty[pid] = trade
                if "level2" in subs and self._active("level2", pid, index):
                    l2[pid] = None
                if "candles" in subs and self._active("candles", pid, index):
                    candles[pid] = None
            elif isinstance(trade, ExchangeOrder) and "user" in subs:
                if self._active("user", _ALL, index) or self._active("user", pid, index):
                    orders.append(trade)
        out: list[_Message] = []
        if trades:  # newest first, as Coinbase lists a batch
            out.append(("market_trades", [{"type": "update", "trades": trades[::-1]}]))
        for pid, trade in tickers.items():
            ticker = payloads.ticker(self.state, pid, trade.price)
            out.append(("ticker", [{"type": "update", "tickers": [ticker]}]))
        for pid in l2:
            book = payloads.book(self.state, pid, self.cfg.book_levels)
            old = self.books.get(pid, {})
            changed = {k: v for k, v in book.items() if old.get(k) != v}
            for k in old:
                if k not in book:
                    changed[k] = _ZERO
            self.books[pid] = book
            if changed:
                when = payloads.rfc3339nano(self.state.now())
                updates = payloads.levels(changed, when)
                event = {"type": "update", "product_id": market_data_label(pid), "updates": updates}
                out.append(("l2_data", [event]))
        if candles:
            listed = [
                c
                for c in (
                    payloads.candle(self.state, pid, self.cfg.candle_granularity_s)
                    for pid in candles
                )
                if c is not None
            ]
            out.append(("candles", [{"type": "update", "candles": listed}]))
        if orders:
            changes = [payloads.user_order(self.state, o) for o in orders]
            out.append(
                ("user", [{"type": "update", "orders": changes, "positions": _EMPTY_POSITIONS}])
            )
        return out

    # -- timers -------------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.cfg.heartbeat_interval_s
        due = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += interval
            if "heartbeats" not in self.subs:
                continue
            async with self.lock:
                if "heartbeats" in self.subs:
                    self.heartbeat_counter += 1
                    beat = {
                        "current_time": payloads.go_time(self.state.now()),
                        "heartbeat_counter": self.heartbeat_counter,
                    }
                    await self._emit("heartbeats", [beat])

    async def _ticker_batches(self) -> None:
        interval = self.cfg.ticker_batch_interval_s
        while True:
            await asyncio.sleep(interval)
            if not self.batch_dirty:
                continue
            async with self.lock:
                dirty, self.batch_dirty = self.batch_dirty, {}
                tickers = [
                    payloads.ticker(self.state, pid, trade.price)
                    for pid, trade in dirty.items()
                    if pid in self.subs.get("ticker_batch", {})
                ]
                if tickers:
                    await self._emit("ticker_batch", [{"type": "update", "tickers": tickers}])
