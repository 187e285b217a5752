"""Paper orders and the book: what an order is, and where an open order waits.

Orders are GTC limit orders (buy or sell), GTC stop-limit orders (buy or sell, stop
direction STOP_DOWN: triggers when a trade prints at or under the stop, or STOP_UP: at or
over it), and immediate orders (time in force IOC or FOK: limit IOC, limit FOK, market
IOC) that are filled and finished inside their placement and never rest.

A GTC order lives in exactly one list of its product's `Book` while it is OPEN:
- `buys`: open limit buys, and buy stop-limits once triggered (they rest as limit buys);
- `stops`: stop-limit orders not triggered yet;
- `sells`: open limit sells, and sell stop-limits once triggered.
A cancelled or filled order is in none. `Book.lo` / `Book.hi` are the two thresholds
that let `advance` skip a trade that can touch nothing with two comparisons.

Order ids are `uuid5` of the exchange's id seed and the placement number: deterministic,
and different between two exchanges with different seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradekit.core.events import MarketTrade
from tradekit.core.money import ZERO, ProductSpec
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.types import ExchangeOrder

MAKER = "MAKER"
TAKER = "TAKER"


class StopDirection:
    """Coinbase's `stop_direction` of a stop-limit order."""

    STOP_DOWN = "STOP_DIRECTION_STOP_DOWN"  # triggers on a trade at or under the stop
    STOP_UP = "STOP_DIRECTION_STOP_UP"  # triggers on a trade at or over the stop


class TimeInForce:
    """Coinbase's `time_in_force` names."""

    GTC = "GOOD_UNTIL_CANCELLED"
    IOC = "IMMEDIATE_OR_CANCEL"
    FOK = "FILL_OR_KILL"


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What an order was placed as, beyond `ExchangeOrder`: how long it may live, which
    way its stop triggers, and whether it was a market order (then its `limit_price` is
    the last trade price it executed against, and `quote_size` what a buy sized by quote
    asked to spend)."""

    time_in_force: str  # a TimeInForce
    stop_direction: str | None  # a StopDirection, stop-limits only
    market: bool = False
    quote_size: Decimal | None = None


_NEG_INF = Decimal("-Infinity")
_POS_INF = Decimal("Infinity")


@dataclass(slots=True, eq=False)
class PaperOrder:
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
    stop_direction: str | None = None  # a StopDirection, stop-limits only
    time_in_force: str = TimeInForce.GTC
    market: bool = False  # a market order: limit_price is the price it executed against
    quote_size: Decimal | None = None  # a market buy sized by what it spends
    status: OrderStatus = OrderStatus.OPEN
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    fees: Decimal = ZERO
    triggered: bool = False
    hold: Decimal = ZERO  # in quote for a buy, in base for a sell

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size

    @property
    def terms(self) -> OrderTerms:
        return OrderTerms(self.time_in_force, self.stop_direction, self.market, self.quote_size)


class Book:
    """One product: its resting orders and the two thresholds `advance` compares with.

    A trade at P can do something only when P <= lo (touches a buy or a STOP_DOWN stop)
    or P >= hi (touches a resting sell or a STOP_UP stop); otherwise `advance` returns
    after two comparisons.
    """

    __slots__ = ("buys", "hi", "last", "lo", "sells", "spec", "stops")

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec
        self.last: MarketTrade | None = None
        self.lo = _NEG_INF
        self.hi = _POS_INF
        self.buys: list[PaperOrder] = []  # open limit buys and triggered buy stops
        self.stops: list[PaperOrder] = []  # open stops not triggered yet
        self.sells: list[PaperOrder] = []  # open limit sells and triggered sell stops

    def refresh(self) -> None:
        lo = _NEG_INF
        hi = _POS_INF
        for o in self.buys:
            if o.limit_price > lo:
                lo = o.limit_price
        for o in self.sells:
            if o.limit_price < hi:
                hi = o.limit_price
        for o in self.stops:
            assert o.stop_price is not None
            if o.stop_direction == StopDirection.STOP_UP:
                if o.stop_price < hi:
                    hi = o.stop_price
            elif o.stop_price > lo:
                lo = o.stop_price
        self.lo = lo
        self.hi = hi

    def add(self, order: PaperOrder) -> None:
        """A new OPEN GTC order: a resting limit, or a stop waiting for its trigger."""
        if order.stop_price is not None:
            self.stops.append(order)
        else:
            (self.buys if order.side is OrderSide.BUY else self.sells).append(order)
        self.refresh()

    def trigger(self, order: PaperOrder) -> None:
        """A stop triggered: from now on it rests as a limit order."""
        self.stops.remove(order)
        (self.buys if order.side is OrderSide.BUY else self.sells).append(order)

    def discard(self, order: PaperOrder) -> None:
        for orders in (self.buys, self.stops, self.sells):
            if order in orders:
                orders.remove(order)
        self.refresh()


def view(o: PaperOrder) -> ExchangeOrder:
    """The order as every exchange reports it."""
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
