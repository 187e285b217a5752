"""Paper orders and the book: what an order is, and where an open order waits.

An order lives in exactly one list of its product's `Book` while it is OPEN:
- `buys`: open limit buys;
- `stops`: stop-limit orders not triggered yet;
- `sells`: open limit sells, and stop-limits once triggered (they rest as limit sells).
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
    status: OrderStatus = OrderStatus.OPEN
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO
    fees: Decimal = ZERO
    triggered: bool = False
    hold: Decimal = ZERO  # in quote for a buy, in base for a sell

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size


class Book:
    """One product: its resting orders and the two thresholds `advance` compares with.

    A trade at P can do something only when P <= lo (touches a buy or a stop) or
    P >= hi (touches a resting sell); otherwise `advance` returns after two comparisons.
    """

    __slots__ = ("buys", "hi", "last", "lo", "sells", "spec", "stops")

    def __init__(self, spec: ProductSpec) -> None:
        self.spec = spec
        self.last: MarketTrade | None = None
        self.lo = _NEG_INF
        self.hi = _POS_INF
        self.buys: list[PaperOrder] = []  # open limit buys
        self.stops: list[PaperOrder] = []  # open stops not triggered yet
        self.sells: list[PaperOrder] = []  # open limit sells and triggered stops

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

    def add(self, order: PaperOrder) -> None:
        """A new OPEN order: a buy, a resting sell, or a stop waiting for its trigger."""
        if order.side is OrderSide.BUY:
            self.buys.append(order)
        elif order.stop_price is None:
            self.sells.append(order)
        else:
            self.stops.append(order)
        self.refresh()

    def trigger(self, order: PaperOrder) -> None:
        """A stop triggered: from now on it rests as a limit order."""
        self.stops.remove(order)
        self.sells.append(order)

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
