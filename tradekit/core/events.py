"""Events: everything the decision engine learns, each carrying its own time.

Time is `ts`, integer nanoseconds since the Unix epoch (UTC), set by whoever observed the
event (exchange timestamp, or the driver's receive time). The core never reads a clock.
Drivers build these from exchange replies and feeds; the engine consumes them.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradekit.core.money import ZERO
from tradekit.core.orders import OrderStatus


@dataclass(frozen=True, slots=True)
class MarketTrade:
    """A trade printed on the market (or a ticker's last price)."""

    product_id: str
    price: Decimal
    size: Decimal
    ts: int
    trade_id: str = ""


@dataclass(frozen=True, slots=True)
class Timer:
    """Time passed with no market event (lets entries time out on a quiet market)."""

    ts: int


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"  # entries allowed
    PAUSED = "PAUSED"  # no new entries; what works keeps working
    HALTED = "HALTED"  # the kill switch: working entries cancelled, stops left in place


@dataclass(frozen=True, slots=True)
class TradingStateChanged:
    """The user (or the portfolio's kill switch) changed what the pair may do.

    HALTED with `flatten_offset_pct` also sells what is held: the stop is cancelled and a
    limit sell is placed at `last price x (1 - flatten_offset_pct)`.
    """

    state: TradingState
    ts: int
    reason: str = ""
    flatten_offset_pct: Decimal | None = None


class OrderEventBase:
    """What every order event carries: the order it is about and when it was observed.

    Not a dataclass itself (each event keeps its own positional field order, which the
    journal's codec and every caller rely on); it lets a driver ask
    `isinstance(ev, OrderEventBase)` and read `ev.client_order_id` with its type known.
    """

    __slots__ = ()
    client_order_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderAccepted(OrderEventBase):
    """The exchange acknowledged a placement (`success: true`)."""

    client_order_id: str
    order_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderRejected(OrderEventBase):
    """The exchange refused a placement (`success: false`), with Coinbase's reason."""

    client_order_id: str
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderSubmitUnknown(OrderEventBase):
    """A placement's reply was lost (timeout, 5xx, disconnect): outcome unknown."""

    client_order_id: str
    ts: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OrderNotFound(OrderEventBase):
    """A lookup (`QueryOrder`) found no such order on the exchange: a placement whose
    reply was lost never arrived. The engine sends the same placement again (same
    client_order_id: should the first one arrive after all, it is the same order)."""

    client_order_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class OrderFilled(OrderEventBase):
    """One execution of an order, identified by the exchange's trade id."""

    client_order_id: str
    trade_id: str
    price: Decimal
    size: Decimal
    fee: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class OrderStatusReport(OrderEventBase):
    """The exchange's word on an order (a lookup or a user-channel update).

    Cumulative fill figures, when given, are applied as "at least this much filled":
    only an increase over what is known books a fill, so repeats are harmless.
    `filled_value` is size x average price, the quote value of all fills.
    """

    client_order_id: str
    status: OrderStatus
    ts: int
    order_id: str | None = None
    filled_size: Decimal | None = None
    filled_value: Decimal = ZERO
    total_fees: Decimal = ZERO
    triggered: bool | None = None
    # the order's levels as the exchange has them (a lookup gives them): they settle an
    # edit whose answer was lost
    size: Decimal | None = None
    stop_price: Decimal | None = None
    limit_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CancelRejected(OrderEventBase):
    """A cancel was refused (the order had already filled, triggered or gone)."""

    client_order_id: str
    reason: str
    ts: int


@dataclass(frozen=True, slots=True)
class CancelUnknown(OrderEventBase):
    """A cancel's reply was lost: the order may or may not still rest."""

    client_order_id: str
    ts: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OrderEdited(OrderEventBase):
    """An in-place edit took effect: these are the order's levels now."""

    client_order_id: str
    size: Decimal
    stop_price: Decimal | None
    limit_price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class EditRejected(OrderEventBase):
    """An in-place edit was refused (or not supported): the old levels still hold."""

    client_order_id: str
    reason: str
    ts: int


OrderEvent = (
    OrderAccepted
    | OrderRejected
    | OrderSubmitUnknown
    | OrderNotFound
    | OrderFilled
    | OrderStatusReport
    | CancelRejected
    | CancelUnknown
    | OrderEdited
    | EditRejected
)
Event = MarketTrade | Timer | TradingStateChanged | OrderEvent

# derived from the union, so one list names the order events
ORDER_EVENT_TYPES: tuple[type[OrderEventBase], ...] = typing.get_args(OrderEvent)
