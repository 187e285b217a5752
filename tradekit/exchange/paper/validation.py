"""Placement and edit checks, and the Coinbase failure reasons they answer with.

A refusal is a value (`PlaceResult.success is False`, `EditResult.success is False`)
naming Coinbase's reason, never an exception; bad Python input (a float, NaN, an empty
client_order_id) is an exception.

Placement checks, in this order (the first failing one is the `failure_reason`):
`INVALID_PRODUCT_ID`; `INVALID_LIMIT_PRICE` (limit <= 0); `INVALID_PRICE_PRECISION`
(limit not a multiple of quote_increment); stops: `PREVIEW_INVALID_STOP_PRICE`
(stop <= 0), `PREVIEW_INVALID_STOP_PRICE_PRECISION`; `INVALID_SIZE_PRECISION`;
`PREVIEW_INVALID_BASE_SIZE_TOO_SMALL` / `PREVIEW_INVALID_BASE_SIZE_TOO_LARGE`;
`PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL` (only when the spec has a quote_min_size);
stops: `PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE` (a sell's limit above its stop: "limit
price must be at or below the stop price") / `PREVIEW_STOP_PRICE_ABOVE_LIMIT_PRICE` (a
buy's limit under its stop), `PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE` (a STOP_DOWN
stop at or above the last trade price: it must sit below the market) /
`PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE` (a STOP_UP stop at or below it; with no
trade seen yet there is no reference and a stop is accepted); last `INSUFFICIENT_FUND`.

Immediate orders (market IOC, limit IOC / FOK) check the same, a market buy sized in
quote `PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL` / `PREVIEW_INVALID_QUOTE_SIZE_PRECISION`
(then the size it buys: `PREVIEW_INVALID_BASE_SIZE_TOO_SMALL`...), and, before the funds,
`INVALID_NO_LIQUIDITY` when the product has no trade yet: the paper exchange has no book,
only the last trade, so there is nothing to fill against. A market sell sized in quote is
`UNSUPPORTED_ORDER_CONFIGURATION`.
Floats raise TypeError, non-finite numbers and an empty client_order_id ValueError.

client_order_id: as the Coinbase reference says, placing again with a client_order_id
already used creates nothing and returns success with the EXISTING order's order_id
(whatever the new parameters, and whatever that order's status). A refused placement
creates no order, so its client_order_id may be used again.

Cancel refusals: unknown id `UNKNOWN_CANCEL_ORDER`, already cancelled
`DUPLICATE_CANCEL_REQUEST`, filled `ORDER_IS_FULLY_FILLED`.

Edit refusals: `ORDER_NOT_FOUND`, `ONLY_OPEN_ORDERS_CAN_BE_EDITED`,
`FIELD_STOPPRICE_NOT_SUPPORTED` (a stop price for a plain limit order),
`CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER`, `EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST`,
`CANNOT_EDIT_TO_BELOW_FILLED_SIZE`, `INVALID_EDITED_SIZE` / `INVALID_EDITED_PRICE` (not
positive) and the `PREVIEW_*` reasons of placement (`PREVIEW_INSUFFICIENT_FUND`...).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradekit.core.events import MarketTrade
from tradekit.core.money import EXACT_CONTEXT, ProductSpec, is_multiple, to_decimal
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.paper.orders import PaperOrder, StopDirection
from tradekit.exchange.types import PlaceResult

# (reason, message): why a placement or an edit is refused
Problem = tuple[str, str]


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
    STOP_PRICE_ABOVE_LIMIT_PRICE = "PREVIEW_STOP_PRICE_ABOVE_LIMIT_PRICE"
    STOP_PRICE_ABOVE_LAST_TRADE_PRICE = "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    STOP_PRICE_BELOW_LAST_TRADE_PRICE = "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE"
    INVALID_QUOTE_SIZE_PRECISION = "PREVIEW_INVALID_QUOTE_SIZE_PRECISION"
    # immediate orders with no trade to fill against; configurations not served
    INVALID_NO_LIQUIDITY = "INVALID_NO_LIQUIDITY"
    UNSUPPORTED_ORDER_CONFIGURATION = "UNSUPPORTED_ORDER_CONFIGURATION"
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


def num(value: object, name: str) -> Decimal:
    """A caller's number as a finite Decimal (floats refused, as everywhere)."""
    result = to_decimal(value, name)
    if not result.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return result


def check_client_order_id(client_order_id: str) -> None:
    if not isinstance(client_order_id, str) or not client_order_id:
        raise ValueError(f"client_order_id must be a non-empty string: {client_order_id!r}")


def refused(client_order_id: str, reason: str, message: str = "") -> PlaceResult:
    return PlaceResult(False, client_order_id, None, reason, message)


def _check_price(
    spec: ProductSpec, price: Decimal, name: str, not_positive: str, imprecise: str
) -> Problem | None:
    if price <= 0:
        return not_positive, f"{name} {price} is not positive"
    if not is_multiple(price, spec.quote_increment):
        return imprecise, f"{name} {price} is not a multiple of {spec.quote_increment}"
    return None


def check_limit(spec: ProductSpec, limit: Decimal) -> Problem | None:
    return _check_price(
        spec, limit, "limit price", Reason.INVALID_LIMIT_PRICE, Reason.INVALID_PRICE_PRECISION
    )


def check_stop(spec: ProductSpec, stop: Decimal) -> Problem | None:
    return _check_price(
        spec, stop, "stop price", Reason.INVALID_STOP_PRICE, Reason.INVALID_STOP_PRICE_PRECISION
    )


def check_size(spec: ProductSpec, size: Decimal, limit: Decimal) -> Problem | None:
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
        value = EXACT_CONTEXT.multiply(size, limit)
        if value < spec.quote_min_size:
            return Reason.QUOTE_SIZE_TOO_SMALL, f"value {value} is below {spec.quote_min_size}"
    return None


def check_stop_placement(
    side: OrderSide,
    direction: str | None,
    limit: Decimal,
    stop: Decimal,
    last: MarketTrade | None,
    *,
    triggered: bool = False,
) -> Problem | None:
    """A stop-limit's prices: a sell's limit at or under its stop, a buy's at or over it;
    until triggered, a STOP_DOWN stop under the market and a STOP_UP stop over it."""
    if side is OrderSide.SELL and limit > stop:
        return (
            Reason.STOP_PRICE_BELOW_LIMIT_PRICE,
            f"stop {stop} is below limit {limit}: a sell stop-limit needs limit <= stop",
        )
    if side is OrderSide.BUY and limit < stop:
        return (
            Reason.STOP_PRICE_ABOVE_LIMIT_PRICE,
            f"stop {stop} is above limit {limit}: a buy stop-limit needs limit >= stop",
        )
    if triggered or last is None:
        return None  # no trade seen yet: no reference, the stop is accepted
    if direction == StopDirection.STOP_UP:
        if stop <= last.price:
            return (
                Reason.STOP_PRICE_BELOW_LAST_TRADE_PRICE,
                f"stop {stop} is at or below the last trade price {last.price}: "
                "a STOP_UP stop must sit above the market",
            )
    elif stop >= last.price:
        return (
            Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE,
            f"stop {stop} is at or above the last trade price {last.price}",
        )
    return None


def check_quote_size(spec: ProductSpec, quote_size: Decimal) -> Problem | None:
    """A market buy's quote size: positive, on the quote grid, at least the minimum."""
    if quote_size <= 0 or quote_size < spec.quote_min_size:
        return (
            Reason.QUOTE_SIZE_TOO_SMALL,
            f"quote size {quote_size} is below {max(spec.quote_min_size, spec.quote_increment)}",
        )
    if not is_multiple(quote_size, spec.quote_increment):
        return (
            Reason.INVALID_QUOTE_SIZE_PRECISION,
            f"quote size {quote_size} is not a multiple of {spec.quote_increment}",
        )
    return None


def check_funds(need: Decimal, have: Decimal, currency: str, note: str = "") -> Problem | None:
    if need > have:
        return Reason.INSUFFICIENT_FUND, f"needs {need} {currency}{note}, {have} available"
    return None


_EDIT_NAMES = {
    Reason.INVALID_PRICE_PRECISION: EditReason.PRICE_PRECISION,
    Reason.INVALID_SIZE_PRECISION: EditReason.SIZE_PRECISION,
    Reason.INSUFFICIENT_FUND: EditReason.INSUFFICIENT_FUND,
}


def check_edit(
    o: PaperOrder,
    size: Decimal,
    limit: Decimal,
    stop: Decimal | None,
    spec: ProductSpec,
    last: MarketTrade | None,
) -> Problem | None:
    """Every edit check but the funds (the ledger knows those), in Coinbase's order."""
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
    problem = check_limit(spec, limit)
    if problem is None and new_stop is not None:
        problem = check_stop(spec, new_stop)
    if problem is None:
        problem = check_size(spec, size, limit)
    if problem is None and new_stop is not None:
        problem = check_stop_placement(
            o.side, o.stop_direction, limit, new_stop, last, triggered=o.triggered
        )
    return None if problem is None else edit_problem(problem)


def edit_problem(problem: Problem) -> Problem:
    """A placement check's refusal under the name `edit_order` gives it."""
    reason, message = problem
    return _EDIT_NAMES.get(reason, reason), message
