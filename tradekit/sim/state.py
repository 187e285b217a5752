"""The simulator's shared state: one paper exchange, its account keys, faults, a bus.

Everything here runs on the server's event loop thread (REST handlers, WebSocket
handlers and the market task alike), so the single-threaded paper exchange is never
called concurrently. Every mutation goes through `SimState`, which publishes what
changed on the `Bus`: market trades (for `market_trades`, `ticker`, `candles`, ...) and
order updates (for the `user` channel). The REST half (`rest.py`) and the streaming half
(`ws.py`, `market.py`) meet only here.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from tradekit.core.events import MarketTrade
from tradekit.core.orders import OrderSide, OrderType
from tradekit.exchange.paper import EditReason, EditResult, PaperExchange, StopDirection
from tradekit.exchange.types import CancelResult, ExchangeOrder, Fill, PlaceResult
from tradekit.sim.history import DEFAULT_MAX_TRADES, TradeHistory
from tradekit.sim.meta import EditEntry, OrderMetaStore

BusKind = Literal["trade", "order", "fill"]


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One thing that happened: a market trade, an order's new state, or a fill."""

    kind: BusKind
    product_id: str
    data: MarketTrade | ExchangeOrder | Fill
    ts: int


class Bus:
    """Fan-out to every subscriber (one bounded queue per WebSocket connection).

    A subscriber that falls `maxsize` messages behind is marked `overflowed` and its
    connection should be closed (as Coinbase drops slow consumers): losing messages
    silently would hide fills.
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._subs: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        sub = Subscription(asyncio.Queue(self.maxsize))
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, msg: BusMessage) -> None:
        for sub in self._subs:
            if sub.overflowed:
                continue
            try:
                sub.queue.put_nowait(msg)
            except asyncio.QueueFull:
                sub.overflowed = True

    @property
    def subscribers(self) -> int:
        return len(self._subs)


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[BusMessage]
    overflowed: bool = False


@dataclass
class Faults:
    """Faults on demand (flags, or the admin endpoint). Rates are fractions 0..1.

    - rest_error_rate: answer that fraction of authenticated REST calls with a 5xx
      (before doing anything);
    - rest_delay_s: sleep this long before answering every REST call;
    - rest_429_rate: answer that fraction of authenticated REST calls with 429
      RATE_LIMIT_EXCEEDED (before doing anything), as a burst of rate limiting looks:
      Coinbase's error shape and rate-limit headers saying no request is left
      (`x-ratelimit-remaining: 0`, `x-ratelimit-reset` until the bucket is full), which a
      client is to honour by slowing down;
    - lose_reply_rate: do the call (e.g. place the order) then answer 503, as a reply
      lost on the way back: the client cannot know it happened;
    - timeout_rate: hold the request until the client gives up (sleep `timeout_s`);
    - ws_drop_after: close every WebSocket after this many messages sent (None: never);
    - ws_skip_seq / ws_dup_seq: the fraction of messages whose sequence_num is skipped
      (one number jumped) or that are sent twice (same sequence_num);
    - ws_drop_rate: the fraction of messages silently not sent (a lost message: the
      next one shows a sequence_num gap).
    - only: restrict the five REST faults to one endpoint, "METHOD /path" with or without
      the `/api/v3/brokerage` prefix (e.g. "POST /orders", so that the lookup after a
      lost reply gets through); None: every authenticated REST call.
    """

    rest_error_rate: float = 0.0
    rest_delay_s: float = 0.0
    rest_429_rate: float = 0.0
    lose_reply_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 30.0
    ws_drop_after: int | None = None
    ws_skip_seq: float = 0.0
    ws_dup_seq: float = 0.0
    ws_drop_rate: float = 0.0
    only: str | None = None

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `{"name": value}` changes; unknown names or bad values raise ValueError."""
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}")
            current = getattr(self, name)
            if name == "only":
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"{name}: expected 'METHOD /path' or null, got {value!r}")
            elif name == "ws_drop_after":
                if value is not None and (not isinstance(value, int) or value < 0):
                    raise ValueError(f"{name}: expected a count or null, got {value!r}")
            elif isinstance(current, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name}: expected a number, got {value!r}")
                value = float(value)
                if name.endswith(("_rate", "_seq")) and not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name}: {value} is not in [0, 1]")
                if value < 0:
                    raise ValueError(f"{name}: {value} is negative")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class ApiKey:
    """A CDP API key of the simulated account: `name` is the JWT `kid`/`sub`."""

    name: str
    public_key: Any  # cryptography EllipticCurvePublicKey


@dataclass
class SimState:
    """The exchange, who may use it, and what goes wrong on purpose."""

    exchange: PaperExchange
    keys: dict[str, ApiKey] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    # how many times each fault struck, by its name (REST and WebSocket): what a
    # campaign reports as the faults it injected
    faults_injected: Counter[str] = field(default_factory=Counter)
    bus: Bus = field(default_factory=Bus)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    rate_limit_per_s: float = 30.0  # private REST requests per second per key
    public_rate_limit_per_s: float = 10.0  # public REST requests per second per client IP
    edit_stop_enabled: bool = True  # may POST /orders/edit move a stop-limit's stop_price
    # product_id -> Coinbase's trading flags that differ from a product that trades
    # ({"status": "delisted", "trading_disabled": True, "cancel_only": True, ...}): a
    # product in maintenance, for the preflight's tests; orders are not refused for them
    product_flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Callable[[], int] = time.time_ns
    uuid: str = "00000000-0000-4000-8000-000000000001"  # the account's portfolio uuid
    # product_id -> its recent trades, one-minute bars and 24 h figures (see history.py),
    # fed by `advance`; read by the ticker/candles/market_trades channels and REST candles.
    history: dict[str, TradeHistory] = field(default_factory=dict)
    history_trades: int = DEFAULT_MAX_TRADES  # trades kept per product in `history`
    # client_order_id -> what the paper exchange does not keep about an order (GTD
    # end_time, post_only, edit history; see meta.py): written by the REST half.
    meta: OrderMetaStore = field(default_factory=OrderMetaStore)
    # what the admin API (prints trades, sets faults) wants in ADMIN_TOKEN_HEADER: only
    # whoever can read the file beside the key file (or the banner) can drive the market
    # REST JWTs already used (their signed part) -> exp: a token is good for one request
    jwt_seen: dict[str, float] = field(default_factory=dict, repr=False)
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    # -- mutations: every one publishes what it changed ---------------------------------

    def now(self) -> int:
        return self.clock()

    def advance(self, trade: MarketTrade) -> list[Fill]:
        """The market printed a trade: match resting orders, publish trade, fills, orders."""
        fills = self.exchange.advance(trade)
        past = self.history.get(trade.product_id)
        if past is None:
            past = self.history[trade.product_id] = TradeHistory(self.history_trades)
        past.add(trade)
        self.bus.publish(BusMessage("trade", trade.product_id, trade, trade.ts))
        changed: dict[str, None] = {}
        for f in fills:
            self.bus.publish(BusMessage("fill", f.product_id, f, f.ts))
            changed[f.order_id] = None
        # a stop triggered without filling changes its state too
        for order_id in self.exchange.last_triggered():
            changed[order_id] = None
        for order_id in changed:
            self._publish_order(order_id)
        return fills

    def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        return self._placed(
            self.exchange.place_limit_buy(client_order_id, product_id, size, limit_price)
        )

    def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        return self._placed(
            self.exchange.place_limit_sell(client_order_id, product_id, size, limit_price)
        )

    def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
        *,
        side: OrderSide = OrderSide.SELL,
        stop_direction: str = StopDirection.STOP_DOWN,
    ) -> PlaceResult:
        return self._placed(
            self.exchange.place_stop_limit(
                client_order_id,
                product_id,
                size,
                stop_price,
                limit_price,
                side=side,
                stop_direction=stop_direction,
            )
        )

    def place_market_ioc(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        *,
        base_size: Decimal | None = None,
        quote_size: Decimal | None = None,
    ) -> PlaceResult:
        """market_market_ioc: fills at once against the last trade (or is cancelled)."""
        return self._placed(
            self.exchange.place_market_ioc(
                client_order_id, product_id, side, base_size=base_size, quote_size=quote_size
            )
        )

    def place_limit_ioc(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        size: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """sor_limit_ioc: fills what it can at once, the rest cancelled."""
        return self._placed(
            self.exchange.place_limit_ioc(client_order_id, product_id, side, size, limit_price)
        )

    def place_limit_fok(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        size: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """limit_limit_fok: all of it at once, or nothing (cancelled)."""
        return self._placed(
            self.exchange.place_limit_fok(client_order_id, product_id, side, size, limit_price)
        )

    def edit_order(
        self,
        order_id: str,
        size: Decimal,
        price: Decimal,
        stop_price: Decimal | None = None,
    ) -> EditResult:
        """POST /orders/edit: a new total size and limit (and stop, if enabled) for an order.

        A stop-limit is editable only while `edit_stop_enabled` (else
        ONLY_LIMIT_ORDER_EDITS_SUPPORTED, as Coinbase documents limit-order edits only).
        """
        order = self.exchange.get_order(order_id)
        if (
            order is not None
            and order.order_type is OrderType.STOP_LIMIT
            and not self.edit_stop_enabled
        ):
            return EditResult(
                order_id,
                False,
                EditReason.ONLY_LIMIT_ORDER_EDITS_SUPPORTED,
                "stop-limit orders cannot be edited here (edit_stop_enabled is off)",
            )
        res = self.exchange.edit_order(order_id, size, price, stop_price)
        if res.success and order is not None:
            entry = EditEntry(price, size, stop_price, self.now())
            self.meta.add_edit(order.client_order_id, entry)
            self._publish_order(order_id)
        return res

    def cancel_order(self, order_id: str) -> CancelResult:
        res = self.exchange.cancel_order(order_id)
        if res.success:
            self._publish_order(order_id)
        return res

    def _placed(self, res: PlaceResult) -> PlaceResult:
        """Publish a new order, and the fills of one that filled at once (IOC, FOK)."""
        if res.success and res.order_id:
            for f in self.exchange.list_fills(order_id=res.order_id):
                self.bus.publish(BusMessage("fill", f.product_id, f, f.ts))
            self._publish_order(res.order_id)
        return res

    def _publish_order(self, order_id: str) -> None:
        order = self.exchange.get_order(order_id)
        if order is None:
            return
        self.bus.publish(BusMessage("order", order.product_id, order, self.now()))
