"""Coinbase Advanced Trade JSON <-> tradekit's typed values. Pure: no I/O.

Shared by the async adapter and its generated sync twin, so parsing is written once.
Every number travels as a string and becomes an exact `Decimal`; a missing field, a
wrong type, a float, or an unknown enum value raises `WireError` naming the field's
path (`order.filled_size`, `fills[3].price`), so a bad reply is refused whole and
changes nothing in the adapter or the engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from tradekit.core.money import ZERO, ProductSpec
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.types import (
    Balance,
    CancelResult,
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
        raise WireError(f"{where}.{key}", f"expected a string, got {value!r}")
    return value


def dec(d: dict[str, Any], key: str, where: str, default: Decimal | None = None) -> Decimal:
    """A decimal string; `default` when absent or empty (Coinbase sends "" for unset)."""
    value = d.get(key)
    if value is None or value == "":
        if default is not None:
            return default
        raise WireError(f"{where}.{key}", "missing")
    if not isinstance(value, str):
        raise WireError(f"{where}.{key}", f"expected a decimal string, got {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise WireError(f"{where}.{key}", f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise WireError(f"{where}.{key}", f"{value!r} is not finite")
    return result


def opt_dec(d: dict[str, Any], key: str, where: str) -> Decimal | None:
    value = d.get(key)
    return None if value is None or value == "" else dec(d, key, where)


def enum(d: dict[str, Any], key: str, where: str, cls: type[E]) -> E:
    value = text(d, key, where)
    try:
        return cls(value)
    except ValueError:
        raise WireError(f"{where}.{key}", f"unknown value {value!r}") from None


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
                raise WireError(f"{where}.{key}", f"{value!r} is not an RFC 3339 time") from None
            minute = int(start.timestamp())
            if len(_MINUTES) > 10_000:
                _MINUTES.clear()
            _MINUTES[value[:16]] = minute
        sec, _, frac = value[17:-1].partition(".")
        if len(sec) == 2 and sec.isdigit() and (not frac or frac.isdigit()) and len(frac) <= 9:
            return (minute + int(sec)) * 10**9 + int((frac + "000000000")[:9])
    try:
        base, _, rest = value.rstrip("Z").partition(".")
        frac = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(frac) :] if rest else ""
        dt = datetime.fromisoformat(base + (tz or "+00:00"))
    except ValueError:
        raise WireError(f"{where}.{key}", f"{value!r} is not an RFC 3339 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 10**9 + int((frac + "000000000")[:9])


def rfc3339(ts_ns: int) -> str:
    dt = datetime.fromtimestamp(ts_ns // 10**9, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ts_ns % 10**9:09d}Z"


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
    for key in ("new_order_failure_reason", "preview_failure_reason", "error"):
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


def order(reply: Any, where: str = "order") -> ExchangeOrder:
    d = obj(reply, where)
    config = obj(d.get("order_configuration"), f"{where}.order_configuration")
    if len(config) != 1:
        raise WireError(f"{where}.order_configuration", "expected exactly one configuration")
    ((kind, params),) = config.items()
    params = obj(params, f"{where}.order_configuration.{kind}")
    cwhere = f"{where}.order_configuration.{kind}"
    if kind.startswith("limit_limit_"):
        order_type, stop = OrderType.LIMIT, None
    elif kind.startswith("stop_limit_stop_limit_"):
        order_type, stop = OrderType.STOP_LIMIT, dec(params, "stop_price", cwhere)
    else:
        raise WireError(f"{where}.order_configuration", f"unsupported configuration {kind!r}")
    declared = d.get("order_type")
    if declared not in (None, "", "UNKNOWN_ORDER_TYPE") and _ORDER_TYPES.get(declared) is not (
        order_type
    ):
        raise WireError(f"{where}.order_type", f"{declared!r} does not match {kind!r}")
    filled = dec(d, "filled_size", where, ZERO)
    value = opt_dec(d, "filled_value", where)
    if value is None:
        value = filled * dec(d, "average_filled_price", where, ZERO)
    trigger = d.get("trigger_status") or ""
    if not isinstance(trigger, str):
        raise WireError(f"{where}.trigger_status", f"expected a string, got {trigger!r}")
    return ExchangeOrder(
        order_id=text(d, "order_id", where),
        client_order_id=text(d, "client_order_id", where, ""),
        product_id=text(d, "product_id", where),
        side=enum(d, "side", where, OrderSide),
        order_type=order_type,
        status=enum(d, "status", where, OrderStatus),
        size=dec(params, "base_size", cwhere),
        limit_price=dec(params, "limit_price", cwhere),
        stop_price=stop,
        filled_size=filled,
        filled_value=value,
        total_fees=dec(d, "total_fees", where, ZERO),
        triggered=trigger == "STOP_TRIGGERED",
        created_ts=timestamp_ns(d, "created_time", where),
    )


def fill(reply: Any, where: str = "fill") -> Fill:
    d = obj(reply, where)
    liquidity = d.get("liquidity_indicator") or "UNKNOWN_LIQUIDITY_INDICATOR"
    return Fill(
        trade_id=text(d, "trade_id", where),
        order_id=text(d, "order_id", where),
        client_order_id="",  # Coinbase's fills do not carry it: the caller knows the order
        product_id=text(d, "product_id", where),
        side=enum(d, "side", where, OrderSide),
        price=dec(d, "price", where),
        size=dec(d, "size", where),
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
    quote = opt_dec(d, "price_increment", where) or dec(d, "quote_increment", where)
    return ProductSpec(
        product_id=text(d, "product_id", where),
        base_increment=dec(d, "base_increment", where),
        quote_increment=quote,
        base_min_size=dec(d, "base_min_size", where),
        base_max_size=opt_dec(d, "base_max_size", where),
        quote_min_size=dec(d, "quote_min_size", where, ZERO),
    )
