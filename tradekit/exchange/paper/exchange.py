"""`PaperExchange`: an in-memory matching engine that behaves like Coinbase spot.

It implements the sync `Exchange` protocol (GTC limit buys and sells, GTC stop-limit
sells with STOP_DIRECTION_STOP_DOWN) and the other orders third-party Coinbase clients
send: stop-limits of both sides and both directions (`place_stop_limit(..., side=,
stop_direction=)`), market IOC (`place_market_ioc`, a buy by base or quote size, a sell
by base size), limit IOC and limit FOK (`place_limit_ioc`, `place_limit_fok`), filled at
placement against the last trade (see `_immediate`). The market is fed one trade at a
time with `advance(trade)`. It is wire-independent (typed, `Decimal`), deterministic (ids
are counters hashed into uuids, no clock, no randomness) and single-threaded: a server
built on it must serialise calls.

This module is the facade; each rule lives with its concept: `matching` (which trade
fills what, at what price), `validation` (placement and edit checks, Coinbase's failure
reasons), `ledger` (balances, holds, fees), `state` (the transitions and their replay),
`journal` (the file and its records), `orders`
(the order record and the book).

Cancels: OPEN (triggered or not, partly filled or not) -> CANCELLED, hold released.

Edits (`edit_order(order_id, size, price, stop_price=None)`): an OPEN order gets a new
TOTAL size (filled part included; it must stay above the filled size), a new limit price
and, for a stop-limit not yet triggered, a new stop price; the same price, size, stop
and funds checks as a placement apply, and the hold is resized (more funds held, or some
released). An edited order keeps its time priority (Coinbase moves it to the back of the
queue on a price change or a size increase; only the "trade_size" fill model could
tell). An order (a limit, or a triggered stop) whose price changes is "crossing" again
when the new limit is marketable against the last trade.

State changes go through the `_apply_*` methods only (`state`, which this facade
inherits): the live path writes the journal record first, then applies it; a restart
replays the same records through the same methods.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from tradekit.core.events import MarketTrade
from tradekit.core.money import (
    EXACT_CONTEXT,
    MONEY_CONTEXT,
    ONE,
    ZERO,
    ProductSpec,
    is_multiple,
    plain,
)
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.paper import journal as jr
from tradekit.exchange.paper.journal import Config, Journal
from tradekit.exchange.paper.ledger import Ledger
from tradekit.exchange.paper.matching import marketable, plan_fills
from tradekit.exchange.paper.orders import (
    TAKER,
    Book,
    OrderTerms,
    PaperOrder,
    StopDirection,
    TimeInForce,
    view,
)
from tradekit.exchange.paper.state import PaperState
from tradekit.exchange.paper.validation import (
    EditReason,
    EditResult,
    Problem,
    Reason,
    check_client_order_id,
    check_edit,
    check_funds,
    check_limit,
    check_quote_size,
    check_size,
    check_stop,
    check_stop_placement,
    num,
    refused,
)
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.exchange.types import (
    Balance,
    CancelResult,
    ExchangeError,
    ExchangeOrder,
    Fill,
    PlaceResult,
)

if TYPE_CHECKING:
    from tradekit.exchange.protocols import ExchangeApi, SimulatedExchange, StopEditor

__all__ = ["FillModel", "PaperExchange", "SellFills"]

FillModel = Literal["full", "trade_size"]
SellFills = Literal["trade", "limit"]

_ID_NAMESPACE = uuid.UUID("6f1d3c1e-8a47-5b7e-9a53-0c2f4e7d9b11")
_ID_HASH = hashlib.sha1(_ID_NAMESPACE.bytes, usedforsecurity=False)
# RFC 4122 version 5: the version nibble and the variant bits set over the SHA-1 digest
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID5_BITS = (5 << 76) | (0x8000 << 48)


class PaperExchange(PaperState):
    """An in-memory Coinbase-like spot exchange; see the package's modules for its rules.

    products: ProductSpecs (a mapping by product_id or an iterable), default
    `DEFAULT_PRODUCTS`. balances: initial available funds per currency (every product's
    currencies get a wallet, empty unless given). maker_fee / taker_fee: rates.
    fill_model: "full" or "trade_size" (how much a touch fills, see `matching`).
    sell_fills: "trade" (default: a marketable sell fills at the trade price) or "limit"
    (pessimistic, opt-in: every sell fills at its limit), see `matching`; a journal keeps
    it, so a restart never changes it. state_path: the journal (see `journal`).
    clock: integer ns for `created_ts` of new orders; default: the latest trade's ts.
    id_seed: mixed into order and trade ids, so that two exchanges' ids differ.
    edit_stops: tell the engines to move stops by `edit_order` (as on Coinbase with
    `exchange.edit_stops`, the live default) rather than cancel-then-place; a backtest
    does, so that it moves its stops as the live run would.
    """

    __slots__ = (
        "_clock",
        "_config",
        "_edit_stops",
        "_last_triggers",
        "_maker",
        "_sells_at_trade",
        "_taker",
        "_trade_size",
    )

    def __init__(
        self,
        products: Mapping[str, ProductSpec] | Iterable[ProductSpec] | None = None,
        balances: Mapping[str, object] | None = None,
        maker_fee: object = Decimal("0.004"),
        taker_fee: object = Decimal("0.006"),
        state_path: str | os.PathLike[str] | None = None,
        *,
        fill_model: FillModel = "full",
        sell_fills: SellFills = "trade",
        clock: Callable[[], int] | None = None,
        id_seed: str = "paper",
        edit_stops: bool = False,
    ) -> None:
        self._edit_stops = edit_stops
        if products is None:
            products = DEFAULT_PRODUCTS
        specs = tuple(products.values() if isinstance(products, Mapping) else products)
        if not specs:
            raise ValueError("a paper exchange needs at least one product")
        for spec in specs:
            if not isinstance(spec, ProductSpec):
                raise TypeError(f"products: expected ProductSpec, got {spec!r}")
        if len({s.product_id for s in specs}) != len(specs):
            raise ValueError("products: a product_id appears twice")
        specs = tuple(sorted(specs, key=lambda spec: spec.product_id))
        initial = []
        for currency, amount in sorted((balances or {}).items()):
            value = num(amount, f"balances[{currency!r}]")
            if value < 0:
                raise ValueError(f"balances[{currency!r}]: {value} is negative")
            initial.append((currency, value))
        maker = num(maker_fee, "maker_fee")
        taker = num(taker_fee, "taker_fee")
        for name, rate in (("maker_fee", maker), ("taker_fee", taker)):
            if not ZERO <= rate < ONE:
                raise ValueError(f"{name}: {rate} is not in [0, 1)")
        if fill_model not in ("full", "trade_size"):
            raise ValueError(f"fill_model: {fill_model!r} is not 'full' or 'trade_size'")
        if sell_fills not in ("trade", "limit"):
            raise ValueError(f"sell_fills: {sell_fills!r} is not 'trade' or 'limit'")
        config = Config(specs, tuple(initial), maker, taker, fill_model, sell_fills, id_seed)
        self._setup(config, clock)
        self._journal: Journal | None = None
        if state_path is not None:
            self._journal = Journal(Path(state_path), config, self._replay)

    @classmethod
    def restore(
        cls, state_path: str | os.PathLike[str], *, clock: Callable[[], int] | None = None
    ) -> PaperExchange:
        """Rebuild an exchange from its journal alone (the configuration is line 1)."""
        path = Path(state_path)
        config = jr.read_config(path)
        return cls(
            products=config.products,
            balances=dict(config.balances),
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
            state_path=path,
            fill_model=cast(FillModel, config.fill_model),
            sell_fills=cast(SellFills, config.sell_fills),
            clock=clock,
            id_seed=config.id_seed,
        )

    def _setup(self, config: Config, clock: Callable[[], int] | None) -> None:
        self._config = config
        self._clock = clock
        self._maker = config.maker_fee
        self._taker = config.taker_fee
        self._trade_size = config.fill_model == "trade_size"
        self._sells_at_trade = config.sell_fills == "trade"
        self._books = {spec.product_id: Book(spec) for spec in config.products}
        self._ledger = Ledger(
            config.products, config.balances, max(config.maker_fee, config.taker_fee)
        )
        self._orders: dict[str, PaperOrder] = {}
        self._by_coid: dict[str, PaperOrder] = {}
        self._fills: list[Fill] = []
        self._seq = 0
        self._last_triggers: tuple[int, list[str]] = (0, [])  # (market_seq, stop ids)

    # ------------------------------------------------------------------ market

    def advance(self, trade: MarketTrade) -> list[Fill]:
        """Feed one market trade; return the fills it caused (usually none)."""
        try:
            book = self._books[trade.product_id]
        except KeyError:
            raise ExchangeError(f"advance: unknown product {trade.product_id!r}") from None
        self._seq += 1
        book.last = trade
        if book.lo < trade.price < book.hi:
            return []
        return self._match(book, trade)

    def quiet_band(self, product_id: str) -> tuple[Decimal, Decimal]:
        """(lo, hi): a trade strictly between them fills and triggers nothing (`advance`
        would only note it as the last trade); a backtest hands such trades over in bulk."""
        book = self._books[product_id]
        return book.lo, book.hi

    def skipped(self, count: int, last: MarketTrade) -> None:
        """`count` trades inside `quiet_band` happened, the last one `last`: the same state
        as `advance` on each of them."""
        if count > 0:
            self._books[last.product_id].last = last
            self._seq += count

    def last_triggered(self) -> list[str]:
        """The stops the last `advance` triggered (filled or not): a simulator tells its
        clients about a stop that triggered without filling (a gap) from this, with no
        scan of the book on every trade."""
        seq, ids = self._last_triggers
        return ids if seq == self._seq else []

    def _match(self, book: Book, trade: MarketTrade) -> list[Fill]:
        price = trade.price
        if type(price) is not Decimal or not price.is_finite():
            raise TypeError(f"advance: trade price must be a finite Decimal, got {price!r}")
        with localcontext(EXACT_CONTEXT):
            plan, triggered = plan_fills(
                book, price, trade.size if self._trade_size else None, self._sells_at_trade
            )
            if not plan and not triggered:
                return []
            fills = []
            for k, (o, fill_price, size, liquidity) in enumerate(plan, start=len(self._fills) + 1):
                rate = self._taker if liquidity == TAKER else self._maker
                fills.append(
                    Fill(
                        trade_id=self._id("trade", k),
                        order_id=o.order_id,
                        client_order_id=o.client_order_id,
                        product_id=o.product_id,
                        side=o.side,
                        price=fill_price,
                        size=size,
                        commission=fill_price * size * rate,
                        ts=trade.ts,
                        liquidity=liquidity,
                    )
                )
            trigger_ids = [o.order_id for o in triggered]
            self._last_triggers = (self._seq, trigger_ids)
            self._write(
                lambda: {
                    "op": "tick",
                    "trade": {
                        "product_id": trade.product_id,
                        "price": plain(price),
                        "size": plain(trade.size),
                        "ts": trade.ts,
                        "trade_id": trade.trade_id,
                    },
                    "triggers": trigger_ids,
                    "fills": [jr.fill_record(f) for f in fills],
                }
            )
            self._apply_tick(trigger_ids, fills)
        return fills

    # --------------------------------------------------------------- placement

    def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit buy. A repeated client_order_id returns the existing order."""
        return self._submit(
            client_order_id,
            product_id,
            OrderSide.BUY,
            num(size, "size"),
            num(limit_price, "limit_price"),
            None,
        )

    def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit SELL (an exit at a price). Marketable on arrival (limit at or below
        the last trade) it fills on its first trade at or above its limit, at that trade's
        price, as TAKER; else it rests and fills at its limit as MAKER (see `matching`)."""
        return self._submit(
            client_order_id,
            product_id,
            OrderSide.SELL,
            num(size, "size"),
            num(limit_price, "limit_price"),
            None,
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
        """A GTC stop-limit order; by default a SELL with STOP_DIRECTION_STOP_DOWN (the
        protective stop). `side=OrderSide.BUY` and `stop_direction=StopDirection.STOP_UP`
        (triggers on a trade at or over the stop) give the other three kinds."""
        if stop_direction not in (StopDirection.STOP_DOWN, StopDirection.STOP_UP):
            raise ValueError(f"stop_direction: {stop_direction!r} is not a StopDirection")
        return self._submit(
            client_order_id,
            product_id,
            side if type(side) is OrderSide else OrderSide(side),
            num(size, "size"),
            num(limit_price, "limit_price"),
            num(stop_price, "stop_price"),
            stop_direction,
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
        """A market IOC order (`market_market_ioc`): a buy sized by `base_size` or by
        `quote_size` (what it spends, the taker fee included), a sell by `base_size`.

        It fills at once against the last trade price, as TAKER, and never rests; the
        order is FILLED, or CANCELLED for what it could not fill (see `_immediate`)."""
        if (base_size is None) == (quote_size is None):
            raise ValueError("a market order takes exactly one of base_size and quote_size")
        return self._immediate(
            client_order_id,
            product_id,
            OrderSide(side),
            TimeInForce.IOC,
            size=None if base_size is None else num(base_size, "base_size"),
            quote_size=None if quote_size is None else num(quote_size, "quote_size"),
        )

    def place_limit_ioc(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        size: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """A limit IOC order (`sor_limit_ioc`): fills at once what it can against the last
        trade price when that is at or better than its limit, and cancels the rest."""
        return self._immediate(
            client_order_id,
            product_id,
            OrderSide(side),
            TimeInForce.IOC,
            size=num(size, "size"),
            limit=num(limit_price, "limit_price"),
        )

    def place_limit_fok(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        size: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """A limit FOK order (`limit_limit_fok`): fills all of it at once against the last
        trade price when that is at or better than its limit, else nothing (CANCELLED)."""
        return self._immediate(
            client_order_id,
            product_id,
            OrderSide(side),
            TimeInForce.FOK,
            size=num(size, "size"),
            limit=num(limit_price, "limit_price"),
        )

    def _submit(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        size: Decimal,
        limit: Decimal,
        stop: Decimal | None,
        stop_direction: str | None = None,
    ) -> PlaceResult:
        """Every GTC placement: the checks in the documented order, then `_place`."""
        known = self._known(client_order_id)
        if known is not None:
            return known
        book = self._books.get(product_id)
        if book is None:
            return refused(client_order_id, Reason.INVALID_PRODUCT_ID, product_id)
        spec = book.spec
        last = book.last
        problem = (
            check_limit(spec, limit)
            or (None if stop is None else check_stop(spec, stop))
            or check_size(spec, size, limit)
            or (
                None
                if stop is None
                else check_stop_placement(side, stop_direction, limit, stop, last)
            )
            or self._check_funds(spec, side, size, limit)
        )
        if problem is not None:
            return refused(client_order_id, *problem)
        # marketable on arrival: its first fill is TAKER (a stop waits for its trigger)
        crossing = stop is None and _marketable(side, limit, last)
        order = self._new_order(client_order_id, spec, side, size, limit, crossing)
        if stop is not None:
            order.order_type = OrderType.STOP_LIMIT
            order.stop_price = stop
            order.stop_direction = stop_direction
        self._write(lambda: {"op": "place", "order": jr.order_record(order)})
        self._apply_place(order)
        return PlaceResult(True, client_order_id, order.order_id)

    def _immediate(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        time_in_force: str,
        *,
        size: Decimal | None = None,
        limit: Decimal | None = None,
        quote_size: Decimal | None = None,
    ) -> PlaceResult:
        """An IOC or FOK order, filled and finished inside its placement.

        With no book, the paper exchange fills against the last trade price P, as TAKER:
        a market order always, a limit order when P is at or better than its limit (a buy:
        P <= L; a sell: P >= L). Fill price: P (a sell with `sell_fills="limit"` and a
        limit: L). Fill size: all of it with `fill_model="full"`; with "trade_size" at
        most the last trade's size (IOC fills that much and cancels the rest, FOK fills
        nothing unless all of it fits). A market order's `limit_price` is P. What is not
        filled is cancelled at once: the order ends FILLED or CANCELLED (with its
        `filled_size`), and the result's message says which. One journal line holds the
        order and its fills, so a crash never leaves an immediate order half-done."""
        known = self._known(client_order_id)
        if known is not None:
            return known
        book = self._books.get(product_id)
        if book is None:
            return refused(client_order_id, Reason.INVALID_PRODUCT_ID, product_id)
        spec = book.spec
        last = book.last
        if quote_size is not None and side is OrderSide.SELL:
            return refused(
                client_order_id,
                Reason.UNSUPPORTED_ORDER_CONFIGURATION,
                "a market sell is sized in base (base_size), not quote_size",
            )
        problem = None if limit is None else check_limit(spec, limit)
        if problem is None and quote_size is not None:
            problem = check_quote_size(spec, quote_size)
        if problem is None and size is not None and limit is not None:
            problem = check_size(spec, size, limit)
        if problem is None and last is None:
            problem = (
                Reason.INVALID_NO_LIQUIDITY,
                f"no trade on {product_id} yet: the paper exchange has no book, only the "
                "last trade, to fill an immediate order against",
            )
        if problem is not None:
            return refused(client_order_id, *problem)
        assert last is not None
        price = last.price
        exec_limit = price if limit is None else limit
        if quote_size is not None:
            with localcontext(MONEY_CONTEXT):
                size = spec.size_down(quote_size / (price * (ONE + self._taker)))
        assert size is not None
        problem = (None if limit is not None else check_size(spec, size, exec_limit)) or (
            self._check_funds(spec, side, size, exec_limit)
        )
        if problem is not None:
            return refused(client_order_id, *problem)
        order = self._new_order(client_order_id, spec, side, size, exec_limit, True)
        order.time_in_force = time_in_force
        order.market = limit is None
        order.quote_size = quote_size
        fill_size = ZERO
        if marketable(side, exec_limit, price):
            fill_size = size
            if self._trade_size and last.size < size:
                fill_size = last.size
                if not is_multiple(fill_size, spec.base_increment):
                    with localcontext(MONEY_CONTEXT):
                        fill_size = spec.size_down(fill_size)
            if time_in_force == TimeInForce.FOK and fill_size < size:
                fill_size = ZERO
        fills = []
        if fill_size > 0:
            fill_price = price
            if side is OrderSide.SELL and not self._sells_at_trade and limit is not None:
                fill_price = limit
            with localcontext(EXACT_CONTEXT):
                commission = fill_price * fill_size * self._taker
            fills.append(
                Fill(
                    trade_id=self._id("trade", len(self._fills) + 1),
                    order_id=order.order_id,
                    client_order_id=client_order_id,
                    product_id=product_id,
                    side=side,
                    price=fill_price,
                    size=fill_size,
                    commission=commission,
                    ts=order.created_ts,
                    liquidity=TAKER,
                )
            )
        self._write(
            lambda: {
                "op": "immediate",
                "order": jr.order_record(order),
                "fills": [jr.fill_record(f) for f in fills],
            }
        )
        self._apply_immediate(order, fills)
        if fill_size == size:
            message = f"filled {plain(size)} at {plain(fills[0].price)}"
        elif fill_size > 0:
            message = f"filled {plain(fill_size)} of {plain(size)}, the rest cancelled"
        else:
            message = f"nothing filled against the last trade at {plain(price)}: cancelled"
        return PlaceResult(True, client_order_id, order.order_id, message=message)

    def _check_funds(
        self, spec: ProductSpec, side: OrderSide, size: Decimal, limit: Decimal
    ) -> Problem | None:
        need = self._ledger.hold_for(side, size, limit)
        currency = self._ledger.currency(spec, side)
        note = " (with the fee)" if side is OrderSide.BUY else ""
        return check_funds(need, self._ledger.available(currency), currency, note)

    def _known(self, client_order_id: str) -> PlaceResult | None:
        check_client_order_id(client_order_id)
        existing = self._by_coid.get(client_order_id)
        if existing is None:
            return None
        return PlaceResult(
            success=True,
            client_order_id=client_order_id,
            order_id=existing.order_id,
            message="client_order_id already used: the existing order is returned",
        )

    def _new_order(
        self,
        client_order_id: str,
        spec: ProductSpec,
        side: OrderSide,
        size: Decimal,
        limit: Decimal,
        crossing: bool,
    ) -> PaperOrder:
        n = len(self._orders) + 1
        return PaperOrder(
            n=n,
            order_id=self._id("order", n),
            client_order_id=client_order_id,
            product_id=spec.product_id,
            side=side,
            order_type=OrderType.LIMIT,
            size=size,
            limit_price=limit,
            stop_price=None,
            created_ts=self._now(),
            crossing=crossing,
        )

    def _now(self) -> int:
        if self._clock is not None:
            return self._clock()
        now: int | None = None
        for book in self._books.values():
            last = book.last
            if last is not None and (now is None or last.ts > now):
                now = last.ts
        return 0 if now is None else now

    def _id(self, kind: str, n: int) -> str:
        """A deterministic UUID: uuid5(_ID_NAMESPACE, "<seed>/<kind>/<n>"), computed
        without building UUID objects (a backtest makes one per stop move)."""
        h = _ID_HASH.copy()
        h.update(f"{self._config.id_seed}/{kind}/{n}".encode())
        x = (int.from_bytes(h.digest()[:16]) & _UUID_CLEAR) | _UUID5_BITS
        s = f"{x:032x}"
        return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"

    # ------------------------------------------------------------------ cancel

    def cancel_order(self, order_id: str) -> CancelResult:
        order = self._orders.get(order_id)
        if order is None:
            return CancelResult(order_id, False, Reason.UNKNOWN_CANCEL_ORDER)
        if order.status is OrderStatus.CANCELLED:
            return CancelResult(order_id, False, Reason.DUPLICATE_CANCEL_REQUEST)
        if order.status is OrderStatus.FILLED:
            return CancelResult(order_id, False, Reason.ORDER_IS_FULLY_FILLED)
        self._write(lambda: {"op": "cancel", "order_id": order_id})
        self._apply_cancel(order_id)
        return CancelResult(order_id, True)

    # -------------------------------------------------------------------- edit

    def edit_order(
        self,
        order_id: str,
        size: Decimal,
        price: Decimal,
        stop_price: Decimal | None = None,
    ) -> EditResult:
        """Give an OPEN order a new total size and limit (and a stop-limit a new stop).

        `stop_price=None` keeps a stop-limit's stop. See the module docstring for rules.
        """
        size = num(size, "size")
        limit = num(price, "price")
        stop = None if stop_price is None else num(stop_price, "stop_price")
        o = self._orders.get(order_id)
        if o is None:
            return EditResult(order_id, False, EditReason.ORDER_NOT_FOUND)
        book = self._books[o.product_id]
        problem = check_edit(o, size, limit, stop, book.spec, book.last)
        if problem is None:
            problem = self._check_edit_funds(o, book.spec, size, limit)
        if problem is not None:
            return EditResult(order_id, False, *problem)
        new_stop = o.stop_price if stop is None else stop
        crossing = o.crossing
        if limit != o.limit_price and (o.order_type is OrderType.LIMIT or o.triggered):
            crossing = _marketable(o.side, limit, book.last)
        self._write(
            lambda: {
                "op": "edit",
                "order_id": order_id,
                "size": plain(size),
                "limit_price": plain(limit),
                "stop_price": None if new_stop is None else plain(new_stop),
                "crossing": crossing,
            }
        )
        self._apply_edit(order_id, size, limit, new_stop, crossing)
        return EditResult(order_id, True)

    def _check_edit_funds(
        self, o: PaperOrder, spec: ProductSpec, size: Decimal, limit: Decimal
    ) -> Problem | None:
        ctx = EXACT_CONTEXT
        held = self._ledger.hold_for(o.side, ctx.subtract(size, o.filled_size), limit)
        extra = ctx.subtract(held, o.hold)
        currency = self._ledger.currency(spec, o.side)
        have = self._ledger.available(currency)
        if extra > have:
            return (
                EditReason.INSUFFICIENT_FUND,
                f"needs {extra} {currency} more on hold, {have} available",
            )
        return None

    # ------------------------------------------------------------------- reads

    def can_edit_stops_for(self, product_id: str) -> bool:
        """May the engines move a stop by `edit_order` (`edit_stops`)? Else they move it
        by cancel-then-place; `edit_order` itself is always available."""
        return self._edit_stops

    def note_edit_refused(self, product_id: str, reason: str) -> bool:
        return False

    def product(self, product_id: str) -> ProductSpec:
        book = self._books.get(product_id)
        if book is None:
            raise ExchangeError(f"unknown product {product_id!r}")
        return book.spec

    @property
    def products(self) -> dict[str, ProductSpec]:
        return {pid: book.spec for pid, book in self._books.items()}

    @property
    def market_seq(self) -> int:
        """How many trades `advance` has processed (restored: the last mutation's)."""
        return self._seq

    def last_price(self, product_id: str) -> Decimal | None:
        last = self._books[product_id].last if product_id in self._books else None
        return None if last is None else last.price

    @property
    def fill_model(self) -> FillModel:
        return "trade_size" if self._trade_size else "full"

    @property
    def sell_fills(self) -> SellFills:
        return "trade" if self._sells_at_trade else "limit"

    def get_order(self, order_id: str) -> ExchangeOrder | None:
        order = self._orders.get(order_id)
        return None if order is None else view(order)

    def order_terms(self, order_id: str) -> OrderTerms:
        """How an order was placed beyond `ExchangeOrder`: its time in force, its stop's
        direction, whether it was a market order (and the quote size it spent)."""
        order = self._orders.get(order_id)
        if order is None:
            raise ExchangeError(f"unknown order {order_id!r}")
        return order.terms

    def get_order_by_client_id(self, client_order_id: str) -> ExchangeOrder | None:
        order = self._by_coid.get(client_order_id)
        return None if order is None else view(order)

    def list_orders(
        self, product_id: str | None = None, status: OrderStatus | None = None
    ) -> list[ExchangeOrder]:
        """Every order ever placed (optionally one product / one status), oldest first."""
        return [
            view(o)
            for o in self._orders.values()
            if (product_id is None or o.product_id == product_id)
            and (status is None or o.status is status)
        ]

    def list_open_orders(self, product_id: str | None = None) -> list[ExchangeOrder]:
        return self.list_orders(product_id, OrderStatus.OPEN)

    def list_fills(self, order_id: str | None = None, product_id: str | None = None) -> list[Fill]:
        """Fills in execution order (oldest first; Coinbase lists newest first)."""
        return [
            f
            for f in self._fills
            if (order_id is None or f.order_id == order_id)
            and (product_id is None or f.product_id == product_id)
        ]

    def balances(self) -> dict[str, Balance]:
        return self._ledger.balances()

    def order_hold(self, order_id: str) -> Decimal:
        """What an order holds now (quote for a buy, base for a sell); 0 once done."""
        order = self._orders.get(order_id)
        if order is None:
            raise ExchangeError(f"unknown order {order_id!r}")
        return order.hold

    def state(self) -> dict[str, Any]:
        """The whole state, for comparisons (a restored exchange equals the original)."""
        return {
            "market_seq": self._seq,
            "last": {
                pid: (b.last.price, b.last.ts)
                for pid, b in self._books.items()
                if b.last is not None
            },
            "orders": [(view(o), o.n, o.hold, o.crossing, o.fees) for o in self._orders.values()],
            "fills": list(self._fills),
            "balances": self.balances(),
            "books": {
                pid: (
                    [o.order_id for o in b.buys],
                    [o.order_id for o in b.stops],
                    [o.order_id for o in b.sells],
                    b.lo,
                    b.hi,
                )
                for pid, b in self._books.items()
            },
        }

    @property
    def state_path(self) -> Path | None:
        return None if self._journal is None else self._journal.path

    def close(self) -> None:
        """Close the journal (the exchange keeps working in memory only)."""
        if self._journal is not None:
            self._journal.close()

    def __enter__(self) -> PaperExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _marketable(side: OrderSide, limit: Decimal, last: MarketTrade | None) -> bool:
    """A limit order that would cross the last trade (no trade seen yet: not marketable)."""
    return last is not None and marketable(side, limit, last.price)


if TYPE_CHECKING:

    def _implements_the_protocol(ex: PaperExchange) -> ExchangeApi:
        return ex  # mypy proves PaperExchange is an Exchange

    def _is_a_simulated_market(ex: PaperExchange) -> SimulatedExchange:
        return ex

    def _edits_orders(ex: PaperExchange) -> StopEditor:
        return ex
