"""Commands: what the decision engine asks a driver to do on the exchange.

A driver journals a command (its intent) before it performs it, and answers with events
(`OrderAccepted`, `OrderRejected`, `OrderSubmitUnknown`, ...). A command's
`client_order_id` is fixed when the command is made, so a retry is the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from tradekit.core.orders import Order, OrderSide, OrderType


class CancelReason(StrEnum):
    ENTRY_TIMEOUT = "entry_timeout"  # max_entry_wait passed
    STOP_MOVE = "stop_move"  # the ratchet raised the trigger: cancel, then place
    STOP_RESIZE = "stop_resize"  # the position's size changed (partial entry fills)
    STOP_TRIGGERED = "stop_triggered"  # the stop is selling: stop buying
    KILL = "kill"  # the kill switch
    FLATTEN = "flatten"  # the kill switch sells: the stop makes way for the exit order
    BREACH = "breach"  # the stop cannot rest where it must (market under it): exit
    GAP_THROUGH = "gap_through"  # a triggered stop the market gapped below: exit instead
    EXIT_REPRICE = "exit_reprice"  # an exit that has not filled follows the market down


@dataclass(frozen=True, slots=True)
class PlaceLimitBuy:
    """An entry: a GTC limit buy (never a market order)."""

    client_order_id: str
    product_id: str
    size: Decimal
    limit_price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class PlaceStopLimitSell:
    """Protection: a GTC stop-limit sell, STOP_DIRECTION_STOP_DOWN.

    `replaces` names the stop this one follows in a cancel-then-place move.
    """

    client_order_id: str
    product_id: str
    size: Decimal
    stop_price: Decimal
    limit_price: Decimal
    ts: int
    replaces: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceLimitSell:
    """An exit: a GTC limit sell of the position, marketable when placed (never a market
    order): after a stop could not rest or was gapped through, or the kill switch's
    flatten."""

    client_order_id: str
    product_id: str
    size: Decimal
    limit_price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """Cancel one order. For a stop move, `then` is the stop to place once it is gone;
    journaling this command records the whole intent before the unprotected gap opens.
    """

    client_order_id: str
    order_id: str
    reason: CancelReason
    ts: int
    then: PlaceStopLimitSell | None = None


@dataclass(frozen=True, slots=True)
class EditStopOrder:
    """Move a resting stop in place (no unprotected gap), where the exchange can.

    Asked only when the driver says the exchange has the capability; if the edit is
    refused the engine falls back to cancel-then-place.
    """

    client_order_id: str
    order_id: str
    size: Decimal
    stop_price: Decimal
    limit_price: Decimal
    ts: int


@dataclass(frozen=True, slots=True)
class QueryOrder:
    """Ask the exchange for one order's state (its status, fills and trigger).

    A refused or unanswered cancel or edit is settled by the exchange's word, never by
    assuming what happened: the answer comes back as `OrderStatusReport` (and the
    order's unseen `OrderFilled`s). `order_id` is None when the placement's reply was
    lost (the lookup is then by `client_order_id`).
    """

    client_order_id: str
    order_id: str | None
    ts: int
    protective: bool = False  # about a stop or an exit: it goes ahead of routine requests


Command = (
    PlaceLimitBuy | PlaceStopLimitSell | PlaceLimitSell | CancelOrder | EditStopOrder | QueryOrder
)


def placement(order: Order) -> PlaceLimitBuy | PlaceStopLimitSell | PlaceLimitSell:
    """The command that places `order` (the same client_order_id: sent again after a
    lost reply, it can never become a second order)."""
    if order.order_type is OrderType.STOP_LIMIT:
        assert order.stop_price is not None
        return PlaceStopLimitSell(
            order.client_order_id,
            order.product_id,
            order.size,
            order.stop_price,
            order.limit_price,
            order.created_ts,
        )
    if order.side is OrderSide.SELL:
        return PlaceLimitSell(
            order.client_order_id, order.product_id, order.size, order.limit_price, order.created_ts
        )
    return PlaceLimitBuy(
        order.client_order_id, order.product_id, order.size, order.limit_price, order.created_ts
    )
