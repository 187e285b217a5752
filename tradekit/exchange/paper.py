"""The paper exchange: an in-memory matching engine that behaves like Coinbase spot.

`PaperExchange` implements the sync `Exchange` protocol for GTC limit buys and GTC
stop-limit sells (STOP_DIRECTION_STOP_DOWN), against a market fed one trade at a time
with `advance(trade)`. It is wire-independent (typed, `Decimal`), deterministic (ids
are counters hashed into uuids, no clock, no randomness) and single-threaded: a server
built on it must serialise calls.

Matching rules (one market trade at price P and size Q; "touch" fills):
- A resting limit BUY at L fills when P <= L, at L (never price improvement), as MAKER.
  A buy that was marketable when placed (L >= the product's last trade price) stays
  flagged "crossing" until its first fill, and that fill is TAKER (conservative: a buy
  that crosses on arrival pays the taker fee). Placement itself never fills: the paper
  exchange has no order book, only a last price, so fills happen only in `advance`.
- A STOP_DOWN stop-limit SELL (stop S, limit L <= S) triggers when P <= S: it stays
  OPEN with `triggered=True` and from then on rests as a limit sell at L.
  On its trigger trade it fills at once when P >= L, at L, as TAKER (it crossed on
  arrival; filling at L and not at P is the conservative choice, deterministic).
  When P < L (a gap down through the limit) it stays triggered and unfilled, as on
  Coinbase; it fills on a later trade with P >= L, at L, as MAKER (it was resting).
- Fill sizes: `fill_model="full"` (default) fills the whole remaining size on a touch;
  `fill_model="trade_size"` caps fills by the trade's size Q, shared in priority order
  by the orders of one side (a trade of size 0 then fills nothing). Buys and sells have
  separate budgets (a print has a buyer and a seller).
- Priority within one trade: buys by highest limit, then placement order; then sells
  already resting (triggered earlier) by lowest limit, then placement order; then stops
  triggered by this trade by highest stop, then placement order. Every order a trade
  touches gets its fill in the same `advance` call.
- Fees: `fee = price x size x rate` (maker or taker rate) kept EXACT, unrounded (the
  ledger arithmetic runs in a 60-digit context that raises on any rounding), so that
  holds and balances reconcile to the last digit. Coinbase reports commissions with
  many decimals too. A buy pays value + fee in quote; a sell receives value - fee.
- Holds: an open buy holds `remaining x limit x (1 + max(maker, taker))` in quote (the
  worst-case fee); an open sell holds its remaining base size. A fill draws its cost
  from the hold, a cancel or the last fill releases the rest. Funds on hold cannot be
  used again: a second stop on held base is refused with `INSUFFICIENT_FUND` (which is
  why stops are moved cancel-then-place).

Placement checks, in this order (the first failing one is the `failure_reason`):
`INVALID_PRODUCT_ID`; `INVALID_LIMIT_PRICE` (limit <= 0); `INVALID_PRICE_PRECISION`
(limit not a multiple of quote_increment); stops: `PREVIEW_INVALID_STOP_PRICE`
(stop <= 0), `PREVIEW_INVALID_STOP_PRICE_PRECISION`; `INVALID_SIZE_PRECISION`;
`PREVIEW_INVALID_BASE_SIZE_TOO_SMALL` / `PREVIEW_INVALID_BASE_SIZE_TOO_LARGE`;
`PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL` (only when the spec has a quote_min_size);
stops: `PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE` (limit above the stop: the stop price
would be below the limit price), `PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE` (stop at
or above the last trade price: a STOP_DOWN must sit below the market; with no trade seen
yet there is no reference and the stop is accepted); last `INSUFFICIENT_FUND`.
Floats raise TypeError, non-finite numbers and an empty client_order_id ValueError.

client_order_id: as the Coinbase reference says, placing again with a client_order_id
already used creates nothing and returns success with the EXISTING order's order_id
(whatever the new parameters, and whatever that order's status). A refused placement
creates no order, so its client_order_id may be used again.

Cancels: OPEN (triggered or not, partly filled or not) -> CANCELLED, hold released.
Refusals: unknown id `UNKNOWN_CANCEL_ORDER`, already cancelled
`DUPLICATE_CANCEL_REQUEST`, filled `ORDER_IS_FULLY_FILLED`.

Edits (`edit_order(order_id, size, price, stop_price=None)`): an OPEN order gets a new
TOTAL size (filled part included; it must stay above the filled size), a new limit price
and, for a stop-limit not yet triggered, a new stop price; the same price, size, stop
and funds checks as a placement apply, and the hold is resized (more funds held, or some
released). Refusals: `ORDER_NOT_FOUND`, `ONLY_OPEN_ORDERS_CAN_BE_EDITED`,
`FIELD_STOPPRICE_NOT_SUPPORTED` (a stop price for a plain limit order),
`CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER`, `EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST`,
`CANNOT_EDIT_TO_BELOW_FILLED_SIZE`, `INVALID_EDITED_SIZE` / `INVALID_EDITED_PRICE` (not
positive) and the `PREVIEW_*` reasons of placement (`PREVIEW_INSUFFICIENT_FUND`...).
An edited order keeps its time priority (Coinbase moves it to the back of the queue on
a price change or a size increase; only the "trade_size" fill model could tell). A buy
whose price changes is "crossing" again when the new limit is at or above the last trade.

Persistence (`state_path`): a JSON-lines journal, Decimals as plain strings. Line 1 is
the configuration (`"op": "init"`: products, initial balances, fees, fill model, id
seed); then one line per mutation: `place` (the new order), `cancel` (its order id),
`edit` (the order id, its new size, limit, stop and crossing flag) and `tick` (a trade
that triggered or filled something: the trigger ids and the fills).
Every line also carries `seq` (market_seq at that moment) and `last` (each product's
last trade price and ts). Each line is written, flushed and fsync'd BEFORE the state
changes in memory and before the call returns (a failed write changes nothing and is
cut off the file again). A trade that changes nothing writes nothing, so a restored
exchange's `market_seq` is the seq of the last mutation: it may lag the feed, and the
driver decides what to feed from there. Constructing a PaperExchange on an existing
journal replays it (the configuration must match; `PaperExchange.restore(path)` takes it
from the file). A truncated last line (a crash mid-write; no final newline) is ignored
and cut off; any other bad line raises `PaperStateError` naming the file and the line.
One writer per journal: the file is locked (flock) while open, and a second
PaperExchange on it is refused until the first is closed.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import (
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar, cast

from tradekit.core.events import MarketTrade
from tradekit.core.money import ZERO, ProductSpec, is_multiple, to_decimal
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.base import Exchange
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.exchange.types import (
    Balance,
    CancelResult,
    ExchangeError,
    ExchangeOrder,
    Fill,
    PlaceResult,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["EditReason", "EditResult", "FillModel", "PaperExchange", "PaperStateError", "Reason"]

_T = TypeVar("_T")

FillModel = Literal["full", "trade_size"]
MAKER = "MAKER"
TAKER = "TAKER"
JOURNAL_VERSION = 1

_ONE = Decimal(1)
_NEG_INF = Decimal("-Infinity")
_POS_INF = Decimal("Infinity")
# Ledger arithmetic: wide enough never to round, and loud if it ever would.
_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_ID_NAMESPACE = uuid.UUID("6f1d3c1e-8a47-5b7e-9a53-0c2f4e7d9b11")


class Reason:
    """Coinbase's failure reasons, as the paper exchange returns them."""

    INSUFFICIENT_FUND = "INSUFFICIENT_FUND"
    INVALID_PRODUCT_ID = "INVALID_PRODUCT_ID"
    INVALID_LIMIT_PRICE = "INVALID_LIMIT_PRICE"
    INVALID_PRICE_PRECISION = "INVALID_PRICE_PRECISION"
    INVALID_SIZE_PRECISION = "INVALID_SIZE_PRECISION"
    INVALID_STOP_PRICE = "PREVIEW_INVALID_STOP_PRICE"
    INVALID_STOP_PRICE_PRECISION = "PREVIEW_INVALID_STOP_PRICE_PRECISION"
    BASE_SIZE_TOO_SMALL = "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"
    BASE_SIZE_TOO_LARGE = "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE"
    QUOTE_SIZE_TOO_SMALL = "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"
    STOP_PRICE_BELOW_LIMIT_PRICE = "PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE"
    STOP_PRICE_ABOVE_LAST_TRADE_PRICE = "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    # cancels
    UNKNOWN_CANCEL_ORDER = "UNKNOWN_CANCEL_ORDER"
    DUPLICATE_CANCEL_REQUEST = "DUPLICATE_CANCEL_REQUEST"
    ORDER_IS_FULLY_FILLED = "ORDER_IS_FULLY_FILLED"


class EditReason:
    """Coinbase's edit failure reasons (`edit_failure_reason`) that `edit_order` returns.

    Refusals found by the placement checks keep their `PREVIEW_*` names (Coinbase's
    `preview_failure_reason`), e.g. `PREVIEW_INSUFFICIENT_FUND`.
    """

    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ONLY_OPEN_ORDERS_CAN_BE_EDITED = "ONLY_OPEN_ORDERS_CAN_BE_EDITED"
    ONLY_LIMIT_ORDER_EDITS_SUPPORTED = "ONLY_LIMIT_ORDER_EDITS_SUPPORTED"
    FIELD_STOPPRICE_NOT_SUPPORTED = "FIELD_STOPPRICE_NOT_SUPPORTED"
    CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER = "CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER"
    CANNOT_EDIT_TO_BELOW_FILLED_SIZE = "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
    EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST = "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST"
    INVALID_EDITED_SIZE = "INVALID_EDITED_SIZE"
    INVALID_EDITED_PRICE = "INVALID_EDITED_PRICE"
    INSUFFICIENT_FUND = "PREVIEW_INSUFFICIENT_FUND"
    PRICE_PRECISION = "PREVIEW_INVALID_PRICE_PRECISION"
    SIZE_PRECISION = "PREVIEW_INVALID_SIZE_PRECISION"


@dataclass(frozen=True, slots=True)
class EditResult:
    """The outcome of `edit_order`: a refusal is a value, as for placements."""

    order_id: str
    success: bool
    failure_reason: str = ""  # an EditReason, or a PREVIEW_* reason
    message: str = ""


class PaperStateError(ExchangeError):
    """The journal cannot be replayed (a corrupt line, a mismatched configuration)."""


class _Bad(Exception):
    """A journal record that does not fit the state (turned into PaperStateError)."""


@dataclass(slots=True, eq=False)
class _Order:
    n: int  # placement number: time priority and id
    order_id: str
    client_order_id: str
    product_id: str
    side: OrderSide
    order_type: OrderType
    size: Decimal
    limit_price: Decimal
    stop_price: Decimal | None
    created_ts: int
    crossing: bool  # marketable on arrival: the next fill is TAKER
    status: OrderStatus = OrderStatus.OPEN
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    fees: Decimal = ZERO
    triggered: bool = False
    hold: Decimal = ZERO  # in quote for a buy, in base for a sell

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size


class _Wallet:
    __slots__ = ("available", "hold")

    def __init__(self, available: Decimal) -> None:
        self.available = available
        self.hold = ZERO


class _Book:
    """One product: its resting orders and the two thresholds `advance` compares with.

    A trade at P can do something only when P <= lo (touches a buy or a stop) or
    P >= hi (touches a triggered sell); otherwise `advance` returns after two comparisons.
    """

    __slots__ = ("buys", "hi", "last", "lo", "sells", "spec", "stops")

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec
        self.last: MarketTrade | None = None
        self.lo = _NEG_INF
        self.hi = _POS_INF
        self.buys: list[_Order] = []  # open limit buys
        self.stops: list[_Order] = []  # open stops not triggered yet
        self.sells: list[_Order] = []  # open triggered stops: resting limit sells

    def refresh(self) -> None:
        lo = _NEG_INF
        for o in self.buys:
            if o.limit_price > lo:
                lo = o.limit_price
        for o in self.stops:
            assert o.stop_price is not None
            if o.stop_price > lo:
                lo = o.stop_price
        hi = _POS_INF
        for o in self.sells:
            if o.limit_price < hi:
                hi = o.limit_price
        self.lo = lo
        self.hi = hi

    def discard(self, order: _Order) -> None:
        for orders in (self.buys, self.stops, self.sells):
            if order in orders:
                orders.remove(order)
        self.refresh()


@dataclass(frozen=True, slots=True)
class _Config:
    products: tuple[ProductSpec, ...]
    balances: tuple[tuple[str, Decimal], ...]
    maker_fee: Decimal
    taker_fee: Decimal
    fill_model: str
    id_seed: str

    def to_record(self) -> dict[str, Any]:
        return {
            "op": "init",
            "v": JOURNAL_VERSION,
            "products": [_spec_record(p) for p in self.products],
            "balances": {cur: _s(amount) for cur, amount in self.balances},
            "maker_fee": _s(self.maker_fee),
            "taker_fee": _s(self.taker_fee),
            "fill_model": self.fill_model,
            "id_seed": self.id_seed,
        }

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> _Config:
        if rec.get("op") != "init":
            raise _Bad("the first line is not the configuration (op 'init')")
        if rec.get("v") != JOURNAL_VERSION:
            raise _Bad(f"journal version {rec.get('v')!r}, expected {JOURNAL_VERSION}")
        return cls(
            products=tuple(ProductSpec.from_dict(p) for p in rec["products"]),
            balances=tuple((str(c), _d(a)) for c, a in rec["balances"].items()),
            maker_fee=_d(rec["maker_fee"]),
            taker_fee=_d(rec["taker_fee"]),
            fill_model=str(rec["fill_model"]),
            id_seed=str(rec["id_seed"]),
        )

    def differences(self, other: _Config) -> list[str]:
        out = []
        for name in ("products", "balances", "maker_fee", "taker_fee", "fill_model", "id_seed"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name}: journal has {mine!r}, constructor has {theirs!r}")
        return out


def _s(value: Decimal) -> str:
    """A Decimal as a plain string (no exponent), exactly."""
    return format(value, "f")


def _spec_record(spec: ProductSpec) -> dict[str, str | None]:
    return {
        key: value if key == "product_id" or value is None else _s(Decimal(value))
        for key, value in spec.to_dict().items()
    }


def _d(value: object) -> Decimal:
    if not isinstance(value, str):
        raise _Bad(f"expected a decimal string, got {value!r}")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise _Bad(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise _Bad(f"{value!r} is not a finite number")
    return result


def _num(value: object, name: str) -> Decimal:
    result = to_decimal(value, name)
    if not result.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return result


def _fill_record(f: Fill) -> dict[str, Any]:
    return {
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "product_id": f.product_id,
        "side": f.side.value,
        "price": _s(f.price),
        "size": _s(f.size),
        "commission": _s(f.commission),
        "ts": f.ts,
        "liquidity": f.liquidity,
    }


def _fill_from_record(d: dict[str, Any]) -> Fill:
    liquidity = d["liquidity"]
    if liquidity not in (MAKER, TAKER):
        raise _Bad(f"liquidity {liquidity!r}")
    return Fill(
        trade_id=str(d["trade_id"]),
        order_id=str(d["order_id"]),
        client_order_id=str(d["client_order_id"]),
        product_id=str(d["product_id"]),
        side=OrderSide(d["side"]),
        price=_d(d["price"]),
        size=_d(d["size"]),
        commission=_d(d["commission"]),
        ts=int(d["ts"]),
        liquidity=liquidity,
    )


def _order_record(o: _Order) -> dict[str, Any]:
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "product_id": o.product_id,
        "side": o.side.value,
        "order_type": o.order_type.value,
        "size": _s(o.size),
        "limit_price": _s(o.limit_price),
        "stop_price": None if o.stop_price is None else _s(o.stop_price),
        "created_ts": o.created_ts,
        "crossing": o.crossing,
    }


def _order_from_record(d: dict[str, Any], n: int) -> _Order:
    stop = d["stop_price"]
    crossing = d["crossing"]
    if not isinstance(crossing, bool):
        raise _Bad(f"crossing {crossing!r}")
    return _Order(
        n=n,
        order_id=str(d["order_id"]),
        client_order_id=str(d["client_order_id"]),
        product_id=str(d["product_id"]),
        side=OrderSide(d["side"]),
        order_type=OrderType(d["order_type"]),
        size=_d(d["size"]),
        limit_price=_d(d["limit_price"]),
        stop_price=None if stop is None else _d(stop),
        created_ts=int(d["created_ts"]),
        crossing=crossing,
    )


def _buy_key(o: _Order) -> tuple[Decimal, int]:
    return (-o.limit_price, o.n)


def _sell_key(o: _Order) -> tuple[Decimal, int]:
    return (o.limit_price, o.n)


def _stop_key(o: _Order) -> tuple[Decimal, int]:
    assert o.stop_price is not None
    return (-o.stop_price, o.n)


class PaperExchange:
    """An in-memory Coinbase-like spot exchange; see the module docstring for its rules.

    products: ProductSpecs (a mapping by product_id or an iterable), default
    `DEFAULT_PRODUCTS`. balances: initial available funds per currency (every product's
    currencies get a wallet, empty unless given). maker_fee / taker_fee: rates.
    fill_model: "full" or "trade_size". state_path: the journal (see module docstring).
    clock: integer ns for `created_ts` of new orders; default: the latest trade's ts.
    id_seed: mixed into order and trade ids, so that two exchanges' ids differ.
    """

    __slots__ = (
        "_books",
        "_by_coid",
        "_clock",
        "_config",
        "_fills",
        "_hold_rate",
        "_last_triggers",
        "_log",
        "_log_size",
        "_maker",
        "_orders",
        "_path",
        "_seq",
        "_taker",
        "_trade_size",
        "_wallets",
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
        clock: Callable[[], int] | None = None,
        id_seed: str = "paper",
    ) -> None:
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
            value = _num(amount, f"balances[{currency!r}]")
            if value < 0:
                raise ValueError(f"balances[{currency!r}]: {value} is negative")
            initial.append((currency, value))
        maker = _num(maker_fee, "maker_fee")
        taker = _num(taker_fee, "taker_fee")
        for name, rate in (("maker_fee", maker), ("taker_fee", taker)):
            if not ZERO <= rate < _ONE:
                raise ValueError(f"{name}: {rate} is not in [0, 1)")
        if fill_model not in ("full", "trade_size"):
            raise ValueError(f"fill_model: {fill_model!r} is not 'full' or 'trade_size'")
        config = _Config(specs, tuple(initial), maker, taker, fill_model, id_seed)
        self._setup(config, clock)
        self._path: Path | None = None
        self._log: BinaryIO | None = None
        self._log_size = 0
        if state_path is not None:
            self._open_journal(Path(state_path))

    @classmethod
    def restore(
        cls, state_path: str | os.PathLike[str], *, clock: Callable[[], int] | None = None
    ) -> PaperExchange:
        """Rebuild an exchange from its journal alone (the configuration is line 1)."""
        path = Path(state_path)
        lines = _read_lines(path)
        if not lines:
            raise PaperStateError(f"{path}: no journal to restore from")
        config = _wrap(path, 1, lambda: _Config.from_record(_parse(lines[0])))
        return cls(
            products=config.products,
            balances=dict(config.balances),
            maker_fee=config.maker_fee,
            taker_fee=config.taker_fee,
            state_path=path,
            fill_model=cast(FillModel, config.fill_model),
            clock=clock,
            id_seed=config.id_seed,
        )

    def _setup(self, config: _Config, clock: Callable[[], int] | None) -> None:
        self._config = config
        self._clock = clock
        self._maker = config.maker_fee
        self._taker = config.taker_fee
        self._hold_rate = max(config.maker_fee, config.taker_fee)
        self._trade_size = config.fill_model == "trade_size"
        self._books = {spec.product_id: _Book(spec) for spec in config.products}
        self._wallets: dict[str, _Wallet] = {}
        for spec in config.products:
            for currency in (spec.base_currency, spec.quote_currency):
                self._wallets.setdefault(currency, _Wallet(ZERO))
        for currency, amount in config.balances:
            self._wallets[currency] = _Wallet(amount)
        self._orders: dict[str, _Order] = {}
        self._by_coid: dict[str, _Order] = {}
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

    def last_triggered(self) -> list[str]:
        """The stops the last `advance` triggered (filled or not): a simulator tells its
        clients about a stop that triggered without filling (a gap) from this, with no
        scan of the book on every trade."""
        seq, ids = self._last_triggers
        return ids if seq == self._seq else []

    def _match(self, book: _Book, trade: MarketTrade) -> list[Fill]:
        price = trade.price
        if type(price) is not Decimal or not price.is_finite():
            raise TypeError(f"advance: trade price must be a finite Decimal, got {price!r}")
        plan: list[tuple[_Order, Decimal, str]] = []
        with localcontext(_EXACT):
            budget = trade.size if self._trade_size else None
            for o in sorted((o for o in book.buys if price <= o.limit_price), key=_buy_key):
                budget = self._plan_fill(plan, o, budget, TAKER if o.crossing else MAKER)
            budget = trade.size if self._trade_size else None
            for o in sorted((o for o in book.sells if price >= o.limit_price), key=_sell_key):
                budget = self._plan_fill(plan, o, budget, TAKER if o.crossing else MAKER)
            triggered = sorted(
                (o for o in book.stops if o.stop_price is not None and price <= o.stop_price),
                key=_stop_key,
            )
            for o in triggered:
                if price >= o.limit_price:
                    budget = self._plan_fill(plan, o, budget, TAKER)
            if not plan and not triggered:
                return []
            fills = []
            for k, (o, size, liquidity) in enumerate(plan, start=len(self._fills) + 1):
                rate = self._taker if liquidity == TAKER else self._maker
                fills.append(
                    Fill(
                        trade_id=self._id("trade", k),
                        order_id=o.order_id,
                        client_order_id=o.client_order_id,
                        product_id=o.product_id,
                        side=o.side,
                        price=o.limit_price,
                        size=size,
                        commission=o.limit_price * size * rate,
                        ts=trade.ts,
                        liquidity=liquidity,
                    )
                )
            trigger_ids = [o.order_id for o in triggered]
            self._last_triggers = (self._seq, trigger_ids)
            self._write(
                {
                    "op": "tick",
                    "trade": {
                        "product_id": trade.product_id,
                        "price": _s(price),
                        "size": _s(trade.size),
                        "ts": trade.ts,
                        "trade_id": trade.trade_id,
                    },
                    "triggers": trigger_ids,
                    "fills": [_fill_record(f) for f in fills],
                }
            )
            self._apply_tick(trigger_ids, fills)
        return fills

    @staticmethod
    def _plan_fill(
        plan: list[tuple[_Order, Decimal, str]],
        o: _Order,
        budget: Decimal | None,
        liquidity: str,
    ) -> Decimal | None:
        size = o.remaining
        if budget is not None:
            size = min(size, budget)
            budget -= size
        if size > 0:
            plan.append((o, size, liquidity))
        return budget

    # --------------------------------------------------------------- placement

    def place_limit_buy(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit buy. A repeated client_order_id returns the existing order."""
        return self._submit(
            client_order_id,
            product_id,
            OrderSide.BUY,
            _num(size, "size"),
            _num(limit_price, "limit_price"),
            None,
        )

    def place_limit_sell(
        self, client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal
    ) -> PlaceResult:
        """A GTC limit SELL (an exit at a price: the kill switch's flatten). It fills on a
        trade at or above its limit, at the limit; marketable on arrival (limit at or below
        the last trade) its first fill is TAKER."""
        return self._submit(
            client_order_id,
            product_id,
            OrderSide.SELL,
            _num(size, "size"),
            _num(limit_price, "limit_price"),
            None,
        )

    def place_stop_limit(
        self,
        client_order_id: str,
        product_id: str,
        size: Decimal,
        stop_price: Decimal,
        limit_price: Decimal,
    ) -> PlaceResult:
        """A GTC stop-limit SELL with STOP_DIRECTION_STOP_DOWN."""
        return self._submit(
            client_order_id,
            product_id,
            OrderSide.SELL,
            _num(size, "size"),
            _num(limit_price, "limit_price"),
            _num(stop_price, "stop_price"),
        )

    def _submit(
        self,
        client_order_id: str,
        product_id: str,
        side: OrderSide,
        size: Decimal,
        limit: Decimal,
        stop: Decimal | None,
    ) -> PlaceResult:
        """Every placement: the same checks in the documented order, then `_place`."""
        known = self._known(client_order_id)
        if known is not None:
            return known
        book = self._books.get(product_id)
        if book is None:
            return _refused(client_order_id, Reason.INVALID_PRODUCT_ID, product_id)
        spec = book.spec
        last = book.last
        problem = (
            self._check_limit(spec, limit)
            or (None if stop is None else self._check_stop(spec, stop))
            or self._check_size(spec, size, limit)
        )
        if problem is None and stop is not None and limit > stop:
            problem = (
                Reason.STOP_PRICE_BELOW_LIMIT_PRICE,
                f"stop {stop} is below limit {limit}: a STOP_DOWN sell needs limit <= stop",
            )
        if problem is None and stop is not None and last is not None and stop >= last.price:
            problem = (
                Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE,
                f"stop {stop} is at or above the last trade price {last.price}",
            )
        if problem is None:
            if side is OrderSide.BUY:
                with localcontext(_EXACT):
                    need = size * limit * (_ONE + self._hold_rate)
                currency, note = spec.quote_currency, " (with the fee)"
            else:
                need, currency, note = size, spec.base_currency, ""
            have = self._wallets[currency].available
            if need > have:
                problem = (
                    Reason.INSUFFICIENT_FUND,
                    f"needs {need} {currency}{note}, {have} available",
                )
        if problem is not None:
            return _refused(client_order_id, *problem)
        # marketable on arrival: its first fill is TAKER (a stop waits for its trigger)
        if stop is not None or last is None:
            crossing = False
        elif side is OrderSide.BUY:
            crossing = limit >= last.price
        else:
            crossing = limit <= last.price
        order_type = OrderType.LIMIT if stop is None else OrderType.STOP_LIMIT
        return self._place(client_order_id, spec, side, order_type, size, limit, stop, crossing)

    def _known(self, client_order_id: str) -> PlaceResult | None:
        if not isinstance(client_order_id, str) or not client_order_id:
            raise ValueError(f"client_order_id must be a non-empty string: {client_order_id!r}")
        existing = self._by_coid.get(client_order_id)
        if existing is None:
            return None
        return PlaceResult(
            success=True,
            client_order_id=client_order_id,
            order_id=existing.order_id,
            message="client_order_id already used: the existing order is returned",
        )

    @staticmethod
    def _check_price(
        spec: ProductSpec, price: Decimal, name: str, not_positive: str, imprecise: str
    ) -> tuple[str, str] | None:
        if price <= 0:
            return not_positive, f"{name} {price} is not positive"
        if not is_multiple(price, spec.quote_increment):
            return imprecise, f"{name} {price} is not a multiple of {spec.quote_increment}"
        return None

    @classmethod
    def _check_limit(cls, spec: ProductSpec, limit: Decimal) -> tuple[str, str] | None:
        return cls._check_price(
            spec, limit, "limit price", Reason.INVALID_LIMIT_PRICE, Reason.INVALID_PRICE_PRECISION
        )

    @classmethod
    def _check_stop(cls, spec: ProductSpec, stop: Decimal) -> tuple[str, str] | None:
        return cls._check_price(
            spec,
            stop,
            "stop price",
            Reason.INVALID_STOP_PRICE,
            Reason.INVALID_STOP_PRICE_PRECISION,
        )

    @staticmethod
    def _check_size(spec: ProductSpec, size: Decimal, limit: Decimal) -> tuple[str, str] | None:
        if not is_multiple(size, spec.base_increment):
            return (
                Reason.INVALID_SIZE_PRECISION,
                f"size {size} is not a multiple of {spec.base_increment}",
            )
        if size < spec.base_min_size or size <= 0:
            return Reason.BASE_SIZE_TOO_SMALL, f"size {size} is below {spec.base_min_size}"
        if spec.base_max_size is not None and size > spec.base_max_size:
            return Reason.BASE_SIZE_TOO_LARGE, f"size {size} is above {spec.base_max_size}"
        if spec.quote_min_size > 0:
            with localcontext(_EXACT):
                value = size * limit
            if value < spec.quote_min_size:
                return (
                    Reason.QUOTE_SIZE_TOO_SMALL,
                    f"value {value} is below {spec.quote_min_size}",
                )
        return None

    def _place(
        self,
        client_order_id: str,
        spec: ProductSpec,
        side: OrderSide,
        order_type: OrderType,
        size: Decimal,
        limit: Decimal,
        stop: Decimal | None,
        crossing: bool,
    ) -> PlaceResult:
        n = len(self._orders) + 1
        order = _Order(
            n=n,
            order_id=self._id("order", n),
            client_order_id=client_order_id,
            product_id=spec.product_id,
            side=side,
            order_type=order_type,
            size=size,
            limit_price=limit,
            stop_price=stop,
            created_ts=self._now(),
            crossing=crossing,
        )
        self._write({"op": "place", "order": _order_record(order)})
        self._apply_place(order)
        return PlaceResult(True, client_order_id, order.order_id)

    def _now(self) -> int:
        if self._clock is not None:
            return self._clock()
        return max((b.last.ts for b in self._books.values() if b.last is not None), default=0)

    def _id(self, kind: str, n: int) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{self._config.id_seed}/{kind}/{n}"))

    # ------------------------------------------------------------------ cancel

    def cancel_order(self, order_id: str) -> CancelResult:
        order = self._orders.get(order_id)
        if order is None:
            return CancelResult(order_id, False, Reason.UNKNOWN_CANCEL_ORDER)
        if order.status is OrderStatus.CANCELLED:
            return CancelResult(order_id, False, Reason.DUPLICATE_CANCEL_REQUEST)
        if order.status is OrderStatus.FILLED:
            return CancelResult(order_id, False, Reason.ORDER_IS_FULLY_FILLED)
        self._write({"op": "cancel", "order_id": order_id})
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
        size = _num(size, "size")
        limit = _num(price, "price")
        stop = None if stop_price is None else _num(stop_price, "stop_price")
        o = self._orders.get(order_id)
        if o is None:
            return EditResult(order_id, False, EditReason.ORDER_NOT_FOUND)
        problem = self._check_edit(o, size, limit, stop)
        if problem is not None:
            return EditResult(order_id, False, *problem)
        new_stop = o.stop_price if stop is None else stop
        crossing = o.crossing
        if o.side is OrderSide.BUY and limit != o.limit_price:
            last = self._books[o.product_id].last
            crossing = last is not None and limit >= last.price
        self._write(
            {
                "op": "edit",
                "order_id": order_id,
                "size": _s(size),
                "limit_price": _s(limit),
                "stop_price": None if new_stop is None else _s(new_stop),
                "crossing": crossing,
            }
        )
        self._apply_edit(order_id, size, limit, new_stop, crossing)
        return EditResult(order_id, True)

    def _check_edit(
        self, o: _Order, size: Decimal, limit: Decimal, stop: Decimal | None
    ) -> tuple[str, str] | None:
        if o.status is not OrderStatus.OPEN:
            return EditReason.ONLY_OPEN_ORDERS_CAN_BE_EDITED, f"the order is {o.status.value}"
        if stop is not None and o.order_type is not OrderType.STOP_LIMIT:
            return EditReason.FIELD_STOPPRICE_NOT_SUPPORTED, "a limit order has no stop price"
        if o.triggered and stop is not None and stop != o.stop_price:
            return (
                EditReason.CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER,
                "the stop has triggered: only its limit price and size can change",
            )
        new_stop = o.stop_price if stop is None else stop
        if size == o.size and limit == o.limit_price and new_stop == o.stop_price:
            return EditReason.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST, "nothing would change"
        if size <= 0:
            return EditReason.INVALID_EDITED_SIZE, f"size {size} is not positive"
        if limit <= 0:
            return EditReason.INVALID_EDITED_PRICE, f"price {limit} is not positive"
        if size <= o.filled_size:
            return (
                EditReason.CANNOT_EDIT_TO_BELOW_FILLED_SIZE,
                f"size {size} is not above the filled size {o.filled_size}",
            )
        book = self._books[o.product_id]
        spec = book.spec
        problem = self._check_limit(spec, limit)
        if problem is None and new_stop is not None:
            problem = self._check_stop(spec, new_stop)
        if problem is None:
            problem = self._check_size(spec, size, limit)
        if problem is not None:
            reason, message = problem
            edit_names = {
                Reason.INVALID_PRICE_PRECISION: EditReason.PRICE_PRECISION,
                Reason.INVALID_SIZE_PRECISION: EditReason.SIZE_PRECISION,
            }
            return edit_names.get(reason, reason), message
        if new_stop is not None:
            if limit > new_stop:
                return (
                    Reason.STOP_PRICE_BELOW_LIMIT_PRICE,
                    f"stop {new_stop} is below limit {limit}: a STOP_DOWN needs limit <= stop",
                )
            last = book.last
            if not o.triggered and last is not None and new_stop >= last.price:
                return (
                    Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE,
                    f"stop {new_stop} is at or above the last trade price {last.price}",
                )
        with localcontext(_EXACT):
            remaining = size - o.filled_size
            if o.side is OrderSide.BUY:
                extra = remaining * limit * (_ONE + self._hold_rate) - o.hold
                currency = spec.quote_currency
            else:
                extra = remaining - o.hold
                currency = spec.base_currency
        have = self._wallets[currency].available
        if extra > have:
            return (
                EditReason.INSUFFICIENT_FUND,
                f"needs {extra} {currency} more on hold, {have} available",
            )
        return None

    # ------------------------------------------------------------------- reads

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

    def get_order(self, order_id: str) -> ExchangeOrder | None:
        order = self._orders.get(order_id)
        return None if order is None else _view(order)

    def get_order_by_client_id(self, client_order_id: str) -> ExchangeOrder | None:
        order = self._by_coid.get(client_order_id)
        return None if order is None else _view(order)

    def list_orders(
        self, product_id: str | None = None, status: OrderStatus | None = None
    ) -> list[ExchangeOrder]:
        """Every order ever placed (optionally one product / one status), oldest first."""
        return [
            _view(o)
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
        return {
            currency: Balance(currency, w.available, w.hold)
            for currency, w in sorted(self._wallets.items())
        }

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
            "orders": [(_view(o), o.n, o.hold, o.crossing, o.fees) for o in self._orders.values()],
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

    # ------------------------------------------------------- state transitions
    # The only code that changes orders, fills and wallets; the live path and the
    # journal replay both go through it.

    def _apply_place(self, o: _Order) -> None:
        if o.order_id in self._orders:
            raise _Bad(f"order {o.order_id} placed twice")
        if o.client_order_id in self._by_coid:
            raise _Bad(f"client_order_id {o.client_order_id} used twice")
        book = self._books.get(o.product_id)
        if book is None:
            raise _Bad(f"unknown product {o.product_id!r}")
        spec = book.spec
        with localcontext(_EXACT):
            if o.side is OrderSide.BUY:
                if o.order_type is not OrderType.LIMIT or o.stop_price is not None:
                    raise _Bad(f"order {o.order_id}: a buy must be a plain limit order")
                o.hold = o.size * o.limit_price * (_ONE + self._hold_rate)
                wallet = self._wallets[spec.quote_currency]
                book.buys.append(o)
            else:
                if (o.stop_price is None) != (o.order_type is OrderType.LIMIT):
                    raise _Bad(f"order {o.order_id}: a sell is a limit or a stop-limit order")
                o.hold = o.size
                wallet = self._wallets[spec.base_currency]
                # a plain limit sell rests at once; a stop waits for its trigger
                (book.sells if o.stop_price is None else book.stops).append(o)
            wallet.available -= o.hold
            wallet.hold += o.hold
        self._orders[o.order_id] = o
        self._by_coid[o.client_order_id] = o
        book.refresh()

    def _apply_cancel(self, order_id: str) -> None:
        o = self._open_order(order_id)
        spec = self._books[o.product_id].spec
        wallet = self._wallets[
            spec.quote_currency if o.side is OrderSide.BUY else spec.base_currency
        ]
        with localcontext(_EXACT):
            wallet.hold -= o.hold
            wallet.available += o.hold
        o.hold = ZERO
        o.status = OrderStatus.CANCELLED
        self._books[o.product_id].discard(o)

    def _apply_edit(
        self,
        order_id: str,
        size: Decimal,
        limit: Decimal,
        stop: Decimal | None,
        crossing: bool,
    ) -> None:
        o = self._open_order(order_id)
        if (stop is None) != (o.order_type is OrderType.LIMIT):
            raise _Bad(f"order {order_id}: stop price {stop} for a {o.order_type.value} order")
        if o.triggered and stop != o.stop_price:
            raise _Bad(f"order {order_id}: the stop price of a triggered stop changed")
        if limit <= 0 or size <= o.filled_size:
            raise _Bad(f"order {order_id}: edit to size {size}, limit {limit}")
        spec = self._books[o.product_id].spec
        with localcontext(_EXACT):
            remaining = size - o.filled_size
            if o.side is OrderSide.BUY:
                new_hold = remaining * limit * (_ONE + self._hold_rate)
                wallet = self._wallets[spec.quote_currency]
            else:
                new_hold = remaining
                wallet = self._wallets[spec.base_currency]
            wallet.available -= new_hold - o.hold
            wallet.hold += new_hold - o.hold
        o.hold = new_hold
        o.size = size
        o.limit_price = limit
        o.stop_price = stop
        o.crossing = crossing
        self._books[o.product_id].refresh()

    def _apply_tick(self, trigger_ids: list[str], fills: list[Fill]) -> None:
        touched: set[str] = set()
        for order_id in trigger_ids:
            o = self._open_order(order_id)
            if o.order_type is not OrderType.STOP_LIMIT or o.triggered:
                raise _Bad(f"order {order_id} cannot trigger")
            o.triggered = True
            book = self._books[o.product_id]
            book.stops.remove(o)
            book.sells.append(o)
            touched.add(o.product_id)
        with localcontext(_EXACT):
            for fill in fills:
                self._apply_fill(fill)
                touched.add(fill.product_id)
        for product_id in touched:
            self._books[product_id].refresh()

    def _apply_fill(self, f: Fill) -> None:
        o = self._open_order(f.order_id)
        if f.product_id != o.product_id or f.side is not o.side:
            raise _Bad(f"fill {f.trade_id} does not match order {o.order_id}")
        if o.order_type is OrderType.STOP_LIMIT and not o.triggered:
            raise _Bad(f"fill {f.trade_id}: stop {o.order_id} has not triggered")
        if not ZERO < f.size <= o.remaining:
            raise _Bad(f"fill {f.trade_id}: size {f.size}, order remaining {o.remaining}")
        spec = self._books[o.product_id].spec
        base = self._wallets[spec.base_currency]
        quote = self._wallets[spec.quote_currency]
        value = f.price * f.size
        o.filled_size += f.size
        o.filled_value += value
        o.fees += f.commission
        o.crossing = False
        if o.side is OrderSide.BUY:
            new_hold = o.remaining * o.limit_price * (_ONE + self._hold_rate)
            release = o.hold - new_hold
            quote.hold -= release
            quote.available += release - value - f.commission
            base.available += f.size
        else:
            new_hold = o.hold - f.size
            base.hold -= f.size
            quote.available += value - f.commission
        o.hold = new_hold
        if o.remaining == 0:
            o.status = OrderStatus.FILLED
            if o.hold:  # only a journal with fills off the limit price leaves a rest
                wallet = quote if o.side is OrderSide.BUY else base
                wallet.hold -= o.hold
                wallet.available += o.hold
                o.hold = ZERO
            self._books[o.product_id].discard(o)
        self._fills.append(f)

    def _open_order(self, order_id: str) -> _Order:
        o = self._orders.get(order_id)
        if o is None:
            raise _Bad(f"unknown order {order_id!r}")
        if o.status is not OrderStatus.OPEN:
            raise _Bad(f"order {order_id} is {o.status.value}, not OPEN")
        return o

    # ----------------------------------------------------------------- journal

    def _write(self, record: dict[str, Any]) -> None:
        """Append one record (with the market position) and make it durable."""
        if self._log is None:
            return
        record["seq"] = self._seq
        record["last"] = {
            pid: [_s(b.last.price), b.last.ts]
            for pid, b in self._books.items()
            if b.last is not None
        }
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            self._log.write(data)
            self._log.flush()
            os.fsync(self._log.fileno())
        except BaseException:
            # Nothing changed in memory: cut the half-written line off the file too.
            try:
                self._log.seek(self._log_size)
                self._log.truncate(self._log_size)
            except OSError:
                pass
            raise
        self._log_size += len(data)

    def _open_journal(self, path: Path) -> None:
        exists = path.exists()
        log = open(path, "r+b" if exists else "w+b")  # noqa: SIM115
        try:
            _lock(log, path)
            lines = _split_lines(log.read())
            keep = sum(len(line) + 1 for line in lines)
            if lines:
                header = _wrap(path, 1, lambda: _Config.from_record(_parse(lines[0])))
                diff = header.differences(self._config)
                if diff:
                    raise PaperStateError(
                        f"{path}: the journal was written with another configuration: "
                        + "; ".join(diff)
                    )
                for lineno, line in enumerate(lines[1:], start=2):
                    _wrap(path, lineno, partial(self._replay, line))
            log.truncate(keep)  # drop a torn last line
            log.seek(keep)
        except BaseException:
            log.close()
            raise
        self._log = log
        self._log_size = keep
        self._path = path
        if not lines:
            self._write(self._config.to_record())
            if not exists:
                _fsync_dir(path.parent)

    def _replay(self, line: bytes) -> None:
        rec = _parse(line)
        op = rec.get("op")
        if op == "place":
            self._apply_place(_order_from_record(rec["order"], len(self._orders) + 1))
        elif op == "cancel":
            self._apply_cancel(str(rec["order_id"]))
        elif op == "edit":
            stop = rec["stop_price"]
            crossing = rec["crossing"]
            if not isinstance(crossing, bool):
                raise _Bad(f"crossing {crossing!r}")
            self._apply_edit(
                str(rec["order_id"]),
                _d(rec["size"]),
                _d(rec["limit_price"]),
                None if stop is None else _d(stop),
                crossing,
            )
        elif op == "tick":
            triggers = rec["triggers"]
            if not isinstance(triggers, list):
                raise _Bad("triggers is not a list")
            self._apply_tick(
                [str(t) for t in triggers], [_fill_from_record(f) for f in rec["fills"]]
            )
        else:
            raise _Bad(f"unknown op {op!r}")
        seq = rec["seq"]
        if type(seq) is not int or seq < self._seq:
            raise _Bad(f"seq {seq!r} after seq {self._seq}")
        self._seq = seq
        for pid, (price, ts) in rec["last"].items():
            if pid not in self._books:
                raise _Bad(f"unknown product {pid!r}")
            self._books[pid].last = MarketTrade(pid, _d(price), ZERO, int(ts))

    @property
    def state_path(self) -> Path | None:
        return self._path

    def close(self) -> None:
        """Close the journal (the exchange keeps working in memory only)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PaperExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _view(o: _Order) -> ExchangeOrder:
    return ExchangeOrder(
        order_id=o.order_id,
        client_order_id=o.client_order_id,
        product_id=o.product_id,
        side=o.side,
        order_type=o.order_type,
        status=o.status,
        size=o.size,
        limit_price=o.limit_price,
        stop_price=o.stop_price,
        filled_size=o.filled_size,
        filled_value=o.filled_value,
        total_fees=o.fees,
        triggered=o.triggered,
        created_ts=o.created_ts,
    )


def _refused(client_order_id: str, reason: str, message: str = "") -> PlaceResult:
    return PlaceResult(False, client_order_id, None, reason, message)


def _read_lines(path: Path) -> list[bytes]:
    try:
        return _split_lines(path.read_bytes())
    except FileNotFoundError:
        return []


def _split_lines(data: bytes) -> list[bytes]:
    """The journal's complete lines (a torn last line, without its newline, is dropped)."""
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: b"" or a torn line
    return lines


def _lock(log: BinaryIO, path: Path) -> None:
    """One writer per journal: a second PaperExchange on the same file is refused."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return
    try:
        fcntl.flock(log.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PaperStateError(
            f"{path}: the journal is in use by another PaperExchange (close that one first)"
        ) from None


def _parse(line: bytes) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _Bad(f"not JSON ({e})") from None
    if not isinstance(rec, dict):
        raise _Bad("not a JSON object")
    return rec


def _wrap(path: Path, lineno: int, fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except PaperStateError:
        raise
    except (_Bad, KeyError, TypeError, ValueError, ArithmeticError, AssertionError) as e:
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise PaperStateError(f"{path}:{lineno}: corrupt journal line: {detail}") from e


def _fsync_dir(directory: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


if TYPE_CHECKING:

    def _implements_the_protocol(ex: PaperExchange) -> Exchange:
        return ex  # mypy proves PaperExchange is an Exchange
