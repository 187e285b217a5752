"""Coinbase Advanced Trade JSON <-> tradekit's typed values. Pure: no I/O.

Shared by the async adapter and its generated sync twin, so parsing is written once.
Every number travels as a string and becomes an exact `Decimal`; a missing field, a
wrong type, a float, or an unknown enum value raises `WireError` naming the field's
path (`order.filled_size`, `fills[3].price`), so a bad reply is refused whole and
changes nothing in the adapter or the engine.

Bounded: numbers are read by `tradekit.jsonl.number` (finite, at most 40 digits, exponent
within -18..15, so no arithmetic on them can overflow or run away) and raw messages by
`message` (`tradekit.jsonl.loads`: nesting bounded, no NaN/Infinity). Impossible values
are refused as errors naming the field, never passed on as state: a negative amount, a
price or size <= 0, an order filled beyond its size.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from tradekit import jsonl
from tradekit.core.events import MarketTrade
from tradekit.core.money import MONEY_CONTEXT, ZERO, ProductSpec
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.types import OWN_CONFIGURATIONS as OWN_ORDER_CONFIGURATIONS
from tradekit.exchange.types import (
    Balance,
    CancelResult,
    Candle,
    ExchangeError,
    ExchangeOrder,
    Fill,
    PlaceResult,
)

E = TypeVar("E", bound=Enum)


class WireError(ExchangeError):
    """The exchange sent something tradekit cannot read; names the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


_show = reprlib.Repr()
_show.maxstring = _show.maxother = 60
show = _show.repr  # a value in an error message: bounded in length and depth


def message(raw: str | bytes, where: str = "message") -> dict[str, Any]:
    """A raw JSON message (a feed message, a reply body) as an object, read in bounded
    time and stack (`jsonl.loads`); `WireError` naming `where` otherwise."""
    try:
        value = jsonl.loads(raw)
    except ValueError as e:
        raise WireError(where, str(e)) from None
    return obj(value, where)


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(where, f"expected an object, got {type(value).__name__}")
    return value


def items(d: dict[str, Any], key: str, where: str) -> list[Any]:
    value = d.get(key)
    if not isinstance(value, list):
        raise WireError(f"{where}.{key}", "expected a list")
    return value


def text(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        if value is None:
            raise WireError(f"{where}.{key}", "missing")
        raise WireError(f"{where}.{key}", f"expected a string, got {show(value)}")
    return value


def dec(d: dict[str, Any], key: str, where: str, default: Decimal | None = None) -> Decimal:
    """A decimal string, >= 0 and within `jsonl.number`'s range (every amount Coinbase
    sends: prices, sizes, fees, balances); `default` when absent or empty (Coinbase
    sends "" for unset)."""
    value = d.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise WireError(f"{where}.{key}", "missing")
    if not isinstance(value, str):
        raise WireError(f"{where}.{key}", f"expected a decimal string, got {show(value)}")
    try:
        result = jsonl.number(value)
    except ValueError as e:
        raise WireError(f"{where}.{key}", str(e)) from None
    if result < 0:
        raise WireError(f"{where}.{key}", f"{show(value)} is negative")
    return result


def positive(d: dict[str, Any], key: str, where: str) -> Decimal:
    """A decimal string > 0 (a price, an order's size, an increment)."""
    result = dec(d, key, where)
    if result <= 0:
        raise WireError(f"{where}.{key}", f"{show(d[key])} is not positive")
    return result


def opt_dec(d: dict[str, Any], key: str, where: str) -> Decimal | None:
    value = d.get(key)
    return None if value is None or value == "" else dec(d, key, where)


def opt_positive(d: dict[str, Any], key: str, where: str) -> Decimal | None:
    value = d.get(key)
    return None if value is None or value == "" else positive(d, key, where)


def enum(d: dict[str, Any], key: str, where: str, cls: type[E]) -> E:
    value = text(d, key, where)
    try:
        return cls(value)
    except ValueError:
        raise WireError(f"{where}.{key}", f"unknown value {show(value)}") from None


_MINUTES: dict[str, int] = {}  # "YYYY-MM-DDTHH:MM" -> epoch seconds: feeds repeat them


def timestamp_ns(d: dict[str, Any], key: str, where: str) -> int:
    """RFC 3339 (with up to nanoseconds) -> integer ns since the epoch."""
    value = text(d, key, where)
    # fast path for the UTC form every feed message carries: 2026-11-25T09:00:00.123Z
    if len(value) >= 20 and value[-1] == "Z" and value[16] == ":" and value[10] == "T":
        minute = _MINUTES.get(value[:16])
        if minute is None:
            try:
                start = datetime.fromisoformat(value[:16] + ":00+00:00")
            except ValueError:
                raise WireError(
                    f"{where}.{key}", f"{show(value)} is not an RFC 3339 time"
                ) from None
            minute = int(start.timestamp())
            if len(_MINUTES) > 10_000:
                _MINUTES.clear()
            _MINUTES[value[:16]] = minute
        sec, _, frac = value[17:-1].partition(".")
        if len(sec) == 2 and _digits(sec) and sec < "60" and len(frac) <= 9 and _digits(frac):
            return (minute + int(sec)) * 10**9 + int((frac + "000000000")[:9])
    try:
        base, _, rest = value.rstrip("Z").partition(".")
        tz = rest.lstrip("0123456789")
        frac = rest[: len(rest) - len(tz)]
        dt = datetime.fromisoformat(base + (tz or "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        seconds = int(dt.timestamp())
    except (ValueError, OverflowError):  # OverflowError: year 1 with a zone east of UTC
        raise WireError(f"{where}.{key}", f"{show(value)} is not an RFC 3339 time") from None
    return seconds * 10**9 + int((frac + "000000000")[:9])


def _digits(text: str) -> bool:
    """Only ASCII digits (or nothing): `str.isdigit` also takes "²", which int() refuses."""
    return text.isascii() and (not text or text.isdigit())


def rfc3339(ts_ns: int) -> str:
    dt = datetime.fromtimestamp(ts_ns // 10**9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % 10**9:09d}Z"


# Coinbase's public channels serve a -USDC product's market data labelled as the -USD
# product (one book for both); its WebSocket docs name two exceptions, with books of
# their own
_USDC_OWN_BOOKS = frozenset({"USDT-USDC", "EURC-USDC"})


def market_data_label(product_id: str) -> str:
    """The product id Coinbase's market data of `product_id` arrives labelled with."""
    base, sep, quote = product_id.rpartition("-")
    if sep and quote == "USDC" and product_id not in _USDC_OWN_BOOKS:
        return f"{base}-USD"
    return product_id


def plain(value: Decimal) -> str:
    """A Decimal as Coinbase writes numbers: plain digits, never exponent notation."""
    return format(value, "f")


# -- requests ---------------------------------------------------------------------------


def limit_order_body(
    client_order_id: str, product_id: str, size: Decimal, limit_price: Decimal, side: str = "BUY"
) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "product_id": product_id,
        "side": side,
        "order_configuration": {
            "limit_limit_gtc": {
                "base_size": plain(size),
                "limit_price": plain(limit_price),
                "post_only": False,
            }
        },
    }


def stop_limit_sell_body(
    client_order_id: str,
    product_id: str,
    size: Decimal,
    stop_price: Decimal,
    limit_price: Decimal,
) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "product_id": product_id,
        "side": "SELL",
        "order_configuration": {
            "stop_limit_stop_limit_gtc": {
                "base_size": plain(size),
                "limit_price": plain(limit_price),
                "stop_price": plain(stop_price),
                "stop_direction": "STOP_DIRECTION_STOP_DOWN",
            }
        },
    }


# -- replies ----------------------------------------------------------------------------


def place_result(reply: Any, client_order_id: str) -> PlaceResult:
    """`POST /orders`: decide on `success` alone (a failure_reason may come with true)."""
    d = obj(reply, "create_order")
    success = d.get("success")
    if not isinstance(success, bool):
        raise WireError("create_order.success", f"expected true or false, got {success!r}")
    if success:
        ok = obj(d.get("success_response"), "create_order.success_response")
        return PlaceResult(True, client_order_id, text(ok, "order_id", "success_response"))
    err = d.get("error_response")
    err = err if isinstance(err, dict) else {}
    reason = ""
    # the order reason first (as recorded, `error` may carry it with no
    # new_order_failure_reason), the preview reason when that says nothing
    for key in ("new_order_failure_reason", "error", "preview_failure_reason"):
        value = err.get(key)
        if isinstance(value, str) and value and not value.startswith("UNKNOWN_"):
            reason = value
            break
    if not reason:
        top = d.get("failure_reason")
        reason = top if isinstance(top, str) and top else "UNKNOWN_FAILURE_REASON"
    message = err.get("message") or err.get("error_details") or ""
    return PlaceResult(False, client_order_id, None, reason, str(message))


def cancel_results(reply: Any) -> list[CancelResult]:
    d = obj(reply, "batch_cancel")
    out = []
    for i, r in enumerate(items(d, "results", "batch_cancel")):
        where = f"batch_cancel.results[{i}]"
        r = obj(r, where)
        success = r.get("success")
        if not isinstance(success, bool):
            raise WireError(f"{where}.success", f"expected true or false, got {success!r}")
        reason = r.get("failure_reason") or ""
        out.append(CancelResult(text(r, "order_id", where), success, str(reason)))
    return out


_ORDER_TYPES = {"LIMIT": OrderType.LIMIT, "STOP_LIMIT": OrderType.STOP_LIMIT}
# the configurations tradekit places: read strictly (a wrong field is a WireError)
OWN_CONFIGURATIONS = OWN_ORDER_CONFIGURATIONS - {""}
# Coinbase statuses that the core has no name for, read as the status they behave as
# (EDIT_QUEUED: an edit is on its way; the order still rests, as OPEN)
_STATUS_ALIASES = {"EDIT_QUEUED": OrderStatus.OPEN}


def order_status(d: dict[str, Any], key: str, where: str) -> OrderStatus:
    """An order's `status`, with Coinbase's statuses the core does not name mapped."""
    value = d.get(key)
    if isinstance(value, str) and value in _STATUS_ALIASES:
        return _STATUS_ALIASES[value]
    return enum(d, key, where, OrderStatus)


def order(reply: Any, where: str = "order") -> ExchangeOrder:
    """An order of any configuration. tradekit's own (limit and stop-limit GTC/GTD) are
    read strictly; any other (market, bracket, TWAP, scaled, IOC/FOK: placed by hand)
    is a *foreign* order (`ExchangeOrder.foreign`): read leniently, so that one order
    tradekit did not place can never make a list, a lookup or a resync fail."""
    d = obj(reply, where)
    config = obj(d.get("order_configuration"), f"{where}.order_configuration")
    if len(config) != 1:
        raise WireError(f"{where}.order_configuration", "expected exactly one configuration")
    ((kind, params),) = config.items()
    if not isinstance(kind, str) or not kind:
        # "" is the paper exchange's (a venue without configuration names): an order
        # from Coinbase without a name must not pass for one of tradekit's own
        raise WireError(f"{where}.order_configuration", "a configuration without a name")
    if kind not in OWN_CONFIGURATIONS:
        return _foreign_order(d, str(kind), params, where)
    cwhere = f"{where}.order_configuration.{kind[:60]}"
    params = obj(params, cwhere)
    if kind.startswith("limit_limit_"):
        order_type, stop = OrderType.LIMIT, None
    else:
        order_type, stop = OrderType.STOP_LIMIT, positive(params, "stop_price", cwhere)
    declared = d.get("order_type")
    if declared not in (None, "", "UNKNOWN_ORDER_TYPE") and (
        not isinstance(declared, str) or _ORDER_TYPES.get(declared) is not order_type
    ):
        raise WireError(f"{where}.order_type", f"{show(declared)} does not match {show(kind)}")
    size = positive(params, "base_size", cwhere)
    filled = dec(d, "filled_size", where, ZERO)
    if filled > size:
        raise WireError(f"{where}.filled_size", f"{filled} is more than the order's size {size}")
    value = opt_dec(d, "filled_value", where)
    if value is None:
        value = MONEY_CONTEXT.multiply(filled, dec(d, "average_filled_price", where, ZERO))
    return ExchangeOrder(
        order_id=text(d, "order_id", where),
        client_order_id=text(d, "client_order_id", where, ""),
        product_id=text(d, "product_id", where),
        side=enum(d, "side", where, OrderSide),
        order_type=order_type,
        status=order_status(d, "status", where),
        size=size,
        limit_price=positive(params, "limit_price", cwhere),
        stop_price=stop,
        filled_size=filled,
        filled_value=value,
        total_fees=dec(d, "total_fees", where, ZERO),
        triggered=_triggered(d, where),
        created_ts=timestamp_ns(d, "created_time", where),
        configuration=kind,
        hold=opt_dec(d, "outstanding_hold_amount", where),
    )


def _triggered(d: dict[str, Any], where: str) -> bool:
    trigger = d.get("trigger_status") or ""
    if not isinstance(trigger, str):
        raise WireError(f"{where}.trigger_status", f"expected a string, got {show(trigger)}")
    return trigger == "STOP_TRIGGERED"


def _foreign_order(d: dict[str, Any], kind: str, params: Any, where: str) -> ExchangeOrder:
    """An order tradekit did not place, of a configuration it does not trade. What
    identifies it (ids, product, side, status, time) must be there; its levels are
    read where the configuration has them (`base_size`, `limit_price`, `stop_price` or
    a bracket's `stop_trigger_price`) and are otherwise zero: it is listed and counted
    (its hold is the exchange's `outstanding_hold_amount`), never traded on."""
    cwhere = f"{where}.order_configuration.{kind[:60]}"
    p = params if isinstance(params, dict) else {}
    filled = dec(d, "filled_size", where, ZERO)
    size = opt_positive(p, "base_size", cwhere) or filled
    limit = opt_positive(p, "limit_price", cwhere) or dec(d, "average_filled_price", where, ZERO)
    stop = opt_positive(p, "stop_price", cwhere) or opt_positive(p, "stop_trigger_price", cwhere)
    value = opt_dec(d, "filled_value", where)
    if value is None:
        value = MONEY_CONTEXT.multiply(filled, dec(d, "average_filled_price", where, ZERO))
    return ExchangeOrder(
        order_id=text(d, "order_id", where),
        client_order_id=text(d, "client_order_id", where, ""),
        product_id=text(d, "product_id", where),
        side=enum(d, "side", where, OrderSide),
        order_type=OrderType.LIMIT if stop is None else OrderType.STOP_LIMIT,
        status=order_status(d, "status", where),
        size=max(size, filled),
        limit_price=limit,
        stop_price=stop,
        filled_size=filled,
        filled_value=value,
        total_fees=dec(d, "total_fees", where, ZERO),
        triggered=_triggered(d, where),
        created_ts=timestamp_ns(d, "created_time", where),
        configuration=kind,
        hold=opt_dec(d, "outstanding_hold_amount", where),
    )


def fill(reply: Any, where: str = "fill") -> Fill:
    d = obj(reply, where)
    liquidity = d.get("liquidity_indicator") or "UNKNOWN_LIQUIDITY_INDICATOR"
    price = positive(d, "price", where)
    size = positive(d, "size", where)
    in_quote = d.get("size_in_quote", False)
    if not isinstance(in_quote, bool):
        raise WireError(f"{where}.size_in_quote", f"expected true or false, got {show(in_quote)}")
    if in_quote:  # `size` is then what it cost in quote: the base size is size / price
        size = MONEY_CONTEXT.divide(size, price)
    return Fill(
        trade_id=text(d, "trade_id", where),
        order_id=text(d, "order_id", where),
        client_order_id="",  # Coinbase's fills do not carry it: the caller knows the order
        product_id=text(d, "product_id", where),
        side=enum(d, "side", where, OrderSide),
        price=price,
        size=size,
        commission=dec(d, "commission", where, ZERO),
        ts=timestamp_ns(d, "trade_time", where),
        liquidity=str(liquidity),
    )


def account(reply: Any, where: str) -> Balance:
    d = obj(reply, where)
    available = obj(d.get("available_balance"), f"{where}.available_balance")
    hold = obj(d.get("hold"), f"{where}.hold") if d.get("hold") is not None else {"value": "0"}
    return Balance(
        currency=text(d, "currency", where),
        available=dec(available, "value", f"{where}.available_balance"),
        hold=dec(hold, "value", f"{where}.hold", ZERO),
    )


def product(reply: Any, where: str = "product") -> ProductSpec:
    d = obj(reply, where)
    quote = opt_positive(d, "price_increment", where) or positive(d, "quote_increment", where)
    product_id = text(d, "product_id", where)
    base_min = dec(d, "base_min_size", where)
    base_max = opt_positive(d, "base_max_size", where)
    if base_max is not None and base_max < base_min:
        raise WireError(f"{where}.base_max_size", f"{base_max} is below base_min_size {base_min}")
    try:
        return ProductSpec(
            product_id=product_id,
            base_increment=positive(d, "base_increment", where),
            quote_increment=quote,
            base_min_size=base_min,
            base_max_size=base_max,
            quote_min_size=dec(d, "quote_min_size", where, ZERO),
        )
    except ValueError as e:  # whatever else the spec itself refuses
        raise WireError(where, str(e)) from None


def candle(reply: Any, where: str = "candle") -> Candle:
    """One row of `GET /market/products/{id}/candles`: `start` in unix seconds (a string
    of ASCII digits), OHLCV as decimal strings; a row that is not a possible bar (high
    below the close, a price <= 0, a time before 1970) is a `WireError` naming it."""
    d = obj(reply, where)
    start = text(d, "start", where)
    if not (0 < len(start) <= 12 and _digits(start)):
        raise WireError(f"{where}.start", f"{show(start)} is not unix seconds")
    try:
        return Candle(
            int(start) * 10**9,
            positive(d, "open", where),
            positive(d, "high", where),
            positive(d, "low", where),
            positive(d, "close", where),
            dec(d, "volume", where),
        )
    except ValueError as e:  # the bar itself is impossible
        raise WireError(where, str(e)) from None


def market_trades(reply: Any, product_id: str, where: str = "ticker") -> list[MarketTrade]:
    """`GET /market/products/{id}/ticker` (public): the last trades, oldest first (Coinbase
    lists them newest first), under `product_id` (REST keeps a -USDC product's label;
    a trade of another product is a `WireError`)."""
    d = obj(reply, where)
    out = []
    for i, raw in enumerate(items(d, "trades", where)):
        twhere = f"{where}.trades[{i}]"
        t = obj(raw, twhere)
        label = text(t, "product_id", twhere)
        if label not in (product_id, market_data_label(product_id)):
            raise WireError(f"{twhere}.product_id", f"{show(label)} is not {product_id}")
        out.append(
            MarketTrade(
                product_id,
                positive(t, "price", twhere),
                positive(t, "size", twhere),
                timestamp_ns(t, "time", twhere),
                text(t, "trade_id", twhere, ""),
            )
        )
    out.sort(key=lambda t: (t.ts, int(t.trade_id) if _digits(t.trade_id) and t.trade_id else 0))
    return out


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """A product's increments (`spec`) and whether it trades now (Coinbase's flags)."""

    spec: ProductSpec
    status: str  # "online" when it trades
    trading_disabled: bool
    cancel_only: bool
    limit_only: bool
    post_only: bool
    price: Decimal | None  # the last price, when given

    @property
    def problems(self) -> list[str]:
        """Why tradekit could not trade it now (empty: it can)."""
        out = []
        if self.status.lower() != "online":
            out.append(f"status {self.status or 'unknown'}")
        for flag in ("trading_disabled", "cancel_only", "post_only"):
            if getattr(self, flag):
                out.append(flag.replace("_", " "))
        return out


def _flag(d: dict[str, Any], key: str, where: str) -> bool:
    value = d.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WireError(f"{where}.{key}", f"expected true or false, got {show(value)}")
    return value


def product_info(reply: Any, where: str = "product") -> ProductInfo:
    d = obj(reply, where)
    status = d.get("status") or ""
    if not isinstance(status, str):
        raise WireError(f"{where}.status", f"expected a string, got {show(status)}")
    return ProductInfo(
        spec=product(d, where),
        status=status,
        trading_disabled=_flag(d, "trading_disabled", where) or _flag(d, "is_disabled", where),
        cancel_only=_flag(d, "cancel_only", where),
        limit_only=_flag(d, "limit_only", where),
        post_only=_flag(d, "post_only", where),
        price=opt_positive(d, "price", where),
    )


@dataclass(frozen=True, slots=True)
class FeeTier:
    """`GET /transaction_summary`: the account's fee tier (rates as fractions)."""

    pricing_tier: str
    maker: Decimal
    taker: Decimal


def fee_tier(reply: Any, where: str = "transaction_summary") -> FeeTier:
    d = obj(reply, where)
    tier = obj(d.get("fee_tier"), f"{where}.fee_tier")
    twhere = f"{where}.fee_tier"
    return FeeTier(
        pricing_tier=text(tier, "pricing_tier", twhere, ""),
        maker=dec(tier, "maker_fee_rate", twhere),
        taker=dec(tier, "taker_fee_rate", twhere),
    )


# an edit refused for one of these reasons is refused for what it is (the order type),
# not for its values: moving stops by edit does not work for that product
EDIT_UNSUPPORTED_REASONS = frozenset(
    {"ONLY_LIMIT_ORDER_EDITS_SUPPORTED", "UNSUPPORTED_ORDER_CONFIGURATION"}
)


def edit_reply(reply: Any, where: str) -> tuple[bool, str]:
    """`POST /orders/edit` or `/orders/edit_preview`: (accepted, the first reason).

    An edit says `success`; a preview says nothing of success, only `errors` (none:
    it would be accepted). The reason is the edit reason unless that is UNKNOWN_*,
    then the preview reason."""
    d = obj(reply, where)
    errors = d.get("errors") or []
    reason = ""
    if isinstance(errors, list):
        for e in errors:
            if not isinstance(e, dict):
                continue
            for key in ("edit_failure_reason", "preview_failure_reason"):
                value = e.get(key)
                if isinstance(value, str) and value and not value.startswith("UNKNOWN_"):
                    reason = value
                    break
            if reason:
                break
    success = d.get("success") is True if "success" in d else not errors
    if not success and not reason:
        response = d.get("error_response")
        value = response.get("edit_order_failure_reason") if isinstance(response, dict) else None
        reason = value if isinstance(value, str) and value else "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
    return success, reason
