"""Replies in Coinbase's shapes: numbers as plain decimal strings, times as RFC3339 UTC.

Orders, fills, accounts, products, candles and books as `coinbase_api.md` (and the
official SDK's field names) give them; order placement successes and failures with the
reason split the way Coinbase splits it (see the package docstring).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from starlette.responses import JSONResponse

from tradekit.core.money import ProductSpec, plain
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.types import ExchangeOrder, Fill
from tradekit.sim.market import synth_book
from tradekit.sim.meta import (
    BRACKET_GTC,
    LIMIT_FOK,
    LIMIT_GTC,
    LIMIT_IOC,
    MARKET_IOC,
    STOP_LIMIT_GTC,
    OrderMeta,
)
from tradekit.sim.state import SimState

NS = 1_000_000_000
PREVIEW_OF = frozenset(
    {
        "INSUFFICIENT_FUND",
        "INVALID_LIMIT_PRICE_POST_ONLY",
        "INVALID_LIMIT_PRICE",
        "INVALID_PRICE_PRECISION",
        "INVALID_SIZE_PRECISION",
        "INVALID_PRODUCT_ID",
        "INVALID_SIDE",
        "INVALID_NO_LIQUIDITY",
        "UNTRADABLE_PRODUCT",
    }
)
# The paper exchange's default fee rates (the simulator's): Coinbase's fee tier shape
MAKER_FEE = Decimal("0.004")
TAKER_FEE = Decimal("0.006")
NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "USD": "US Dollar"}
FIAT = frozenset({"USD", "EUR", "GBP"})
_ID_NS = uuid.UUID("0c4b7a52-3d0e-5b8f-a1c2-6e9d8f7a5b31")


def dec(value: Decimal) -> str:
    """A Decimal as Coinbase sends numbers: plain digits, never an exponent, no '-0'."""
    if not value:
        return "0"
    return plain(value)


def rfc3339(ns: int) -> str:
    """Unix nanoseconds as RFC3339 UTC with microseconds, e.g. 2024-01-02T03:04:05.678901Z."""
    secs, rest = divmod(ns, NS)
    dt = datetime.fromtimestamp(secs, UTC).replace(microsecond=rest // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render(content: Any) -> bytes:
    return json.dumps(content, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):  # only ever echoed back from a request
        return dec(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return render(content)


# ------------------------------------------------------------------------ views


def order_meta(state: SimState, o: ExchangeOrder) -> OrderMeta:
    meta = state.meta.get(o.client_order_id)
    if meta is not None:
        return meta
    if o.order_type is OrderType.STOP_LIMIT:  # placed around REST (tests, the engine)
        terms = state.exchange.order_terms(o.order_id)
        return OrderMeta(STOP_LIMIT_GTC, stop_direction=terms.stop_direction)
    return OrderMeta(LIMIT_GTC)


def order_configuration(state: SimState, o: ExchangeOrder) -> dict[str, Any]:
    """The order's configuration as placed, with its current (edited) size and prices."""
    meta = order_meta(state, o)
    if meta.config_key == MARKET_IOC:  # its limit_price is the price it executed against
        if meta.quote_size is not None:
            return {MARKET_IOC: {"quote_size": dec(meta.quote_size)}}
        return {MARKET_IOC: {"base_size": dec(o.size)}}
    body: dict[str, Any] = {"base_size": dec(o.size), "limit_price": dec(o.limit_price)}
    if meta.config_key in (LIMIT_IOC, LIMIT_FOK):
        return {meta.config_key: body}
    if meta.config_key == BRACKET_GTC:
        stop = meta.stop_trigger_price
        body["stop_trigger_price"] = "" if stop is None else dec(stop)
        return {BRACKET_GTC: body}
    if o.order_type is OrderType.STOP_LIMIT:
        body["stop_price"] = "" if o.stop_price is None else dec(o.stop_price)
        body["stop_direction"] = meta.stop_direction or "STOP_DIRECTION_STOP_DOWN"
    else:
        body["post_only"] = meta.post_only
    if meta.end_time is not None:
        body["end_time"] = meta.end_time
    return {meta.config_key: body}


def order_json(state: SimState, o: ExchangeOrder) -> dict[str, Any]:
    """One order as `GET /orders/historical/{id}` gives it (coinbase_api.md, "Order")."""
    ex = state.exchange
    meta = order_meta(state, o)
    fills = ex.list_fills(order_id=o.order_id)
    with localcontext() as ctx:
        ctx.prec = 40
        average = o.filled_value / o.filled_size if o.filled_size else Decimal(0)
        done = (o.filled_size / o.size * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    after_fees = (
        o.filled_value + o.total_fees if o.side is OrderSide.BUY else o.filled_value - o.total_fees
    )
    if o.order_type is OrderType.LIMIT:
        trigger = "INVALID_ORDER_TYPE"
    else:
        trigger = "STOP_TRIGGERED" if o.triggered else "STOP_PENDING"
    terminal = o.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED)
    return {
        "order_id": o.order_id,
        "product_id": o.product_id,
        "user_id": state.uuid,
        "order_configuration": order_configuration(state, o),
        "side": o.side.value,
        "client_order_id": o.client_order_id,
        "status": o.status.value,
        "time_in_force": meta.time_in_force,
        "created_time": rfc3339(o.created_ts),
        "completion_percentage": dec(done.normalize()),
        "filled_size": dec(o.filled_size),
        "average_filled_price": dec(average),
        "fee": "",
        "number_of_fills": str(len(fills)),
        "filled_value": dec(o.filled_value),
        "pending_cancel": False,
        "size_in_quote": meta.quote_size is not None,
        "total_fees": dec(o.total_fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": dec(after_fees),
        "trigger_status": trigger,
        "order_type": _ORDER_TYPES.get(meta.config_key, o.order_type.value),
        "reject_reason": "REJECT_REASON_UNSPECIFIED",
        "settled": terminal,
        "product_type": "SPOT",
        "reject_message": "",
        "cancel_message": "User requested cancel" if o.status is OrderStatus.CANCELLED else "",
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": dec(ex.order_hold(o.order_id)),
        "is_liquidation": False,
        "last_fill_time": rfc3339(fills[-1].ts) if fills else None,
        "edit_history": [
            {
                "price": dec(e.price),
                "size": dec(e.size),
                "replace_accept_timestamp": rfc3339(e.ts),
            }
            for e in meta.edits
        ],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": state.uuid,
        "originating_order_id": "",
        "attached_order_id": "",
    }


_ORDER_TYPES = {MARKET_IOC: "MARKET", BRACKET_GTC: "BRACKET"}  # else LIMIT / STOP_LIMIT


def fill_json(state: SimState, f: Fill) -> dict[str, Any]:
    when = rfc3339(f.ts)
    return {
        "entry_id": str(uuid.uuid5(_ID_NS, f"entry/{f.trade_id}")),
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "trade_time": when,
        "trade_type": "FILL",
        "price": dec(f.price),
        "size": dec(f.size),
        "commission": dec(f.commission),
        "product_id": f.product_id,
        "sequence_timestamp": when,
        "liquidity_indicator": f.liquidity,
        "size_in_quote": False,
        "user_id": state.uuid,
        "side": f.side.value,
        "retail_portfolio_id": state.uuid,
    }


def account_uuid(state: SimState, currency: str) -> str:
    return str(uuid.uuid5(_ID_NS, f"{state.uuid}/account/{currency}"))


def accounts(state: SimState) -> list[dict[str, Any]]:
    out = []
    for currency, bal in state.exchange.balances().items():
        fiat = currency in FIAT
        out.append(
            {
                "uuid": account_uuid(state, currency),
                "name": f"{currency} Wallet",
                "currency": currency,
                "available_balance": {"value": dec(bal.available), "currency": currency},
                "default": fiat,
                "active": True,
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": rfc3339(state.now()),
                "deleted_at": None,
                "type": "ACCOUNT_TYPE_FIAT" if fiat else "ACCOUNT_TYPE_CRYPTO",
                "ready": True,
                "hold": {"value": dec(bal.hold), "currency": currency},
                "retail_portfolio_id": state.uuid,
                "platform": "ACCOUNT_PLATFORM_CONSUMER",
            }
        )
    return out


def product_json(state: SimState, spec: ProductSpec) -> dict[str, Any]:
    """A product as `GET /products/{id}` gives it, with `state.product_flags`."""
    return {**_product_json(state, spec), **state.product_flags.get(spec.product_id, {})}


def _product_json(state: SimState, spec: ProductSpec) -> dict[str, Any]:
    last = state.exchange.last_price(spec.product_id)
    day = day_stats(state, spec.product_id)
    base, quote = spec.base_currency, spec.quote_currency
    volume = day[0]
    change = day[1]
    return {
        "product_id": spec.product_id,
        "price": "" if last is None else dec(last),
        "price_percentage_change_24h": "" if change is None else dec(change),
        "volume_24h": dec(volume),
        "volume_percentage_change_24h": "0",
        "base_increment": dec(spec.base_increment),
        "quote_increment": dec(spec.quote_increment),
        "quote_min_size": dec(spec.quote_min_size),
        "quote_max_size": "",
        "base_min_size": dec(spec.base_min_size),
        "base_max_size": "" if spec.base_max_size is None else dec(spec.base_max_size),
        "base_name": NAMES.get(base, base),
        "quote_name": NAMES.get(quote, quote),
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": "SPOT",
        "quote_currency_id": quote,
        "base_currency_id": base,
        "fcm_trading_session_details": None,
        "mid_market_price": "",
        "alias": "",
        "alias_to": [],
        "base_display_symbol": base,
        "quote_display_symbol": quote,
        "view_only": False,
        "price_increment": dec(spec.quote_increment),
        "display_name": spec.product_id,
        "product_venue": "CBE",
        "approximate_quote_24h_volume": dec(day[2]),
    }


def day_stats(state: SimState, product_id: str) -> tuple[Decimal, Decimal | None, Decimal]:
    """(volume, price change in percent, approximate quote volume) over the last 24 h.

    From `state.history`'s one-minute bars: the quote volume is the volume at the last
    price (Coinbase calls that figure approximate too).
    """
    past = state.history.get(product_id)
    stats = None if past is None else past.day_stats()
    last = None if past is None or past.last is None else past.last.price
    if stats is None or last is None:
        return Decimal(0), None, Decimal(0)
    change = None
    if stats.open:
        with localcontext() as ctx:
            ctx.prec = 28
            change = (last - stats.open) / stats.open * 100
            change = change.quantize(Decimal("0.00000001")).normalize()
    return stats.volume, change, stats.volume * last


def candles(
    state: SimState, product_id: str, start_s: int, end_s: int, granularity_s: int
) -> list[dict[str, str]]:
    """Candles overlapping [start_s, end_s), newest first; buckets without trades omitted.

    Built from `state.history`'s one-minute bars (the last two days are kept).
    """
    past = state.history.get(product_id)
    if past is None:
        return []
    first = start_s - start_s % granularity_s
    bars = past.candles(granularity_s, first * NS, end_s * NS)
    return [
        {
            "start": str(c.start // NS),
            "low": dec(c.low),
            "high": dec(c.high),
            "open": dec(c.open),
            "close": dec(c.close),
            "volume": dec(c.volume),
        }
        for c in reversed(bars)
    ]


def book(state: SimState, spec: ProductSpec, levels: int) -> dict[str, Any]:
    last = state.exchange.last_price(spec.product_id)
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []
    if last is not None and levels > 0:
        bids, asks = synth_book(spec, last, levels)
    return {
        "product_id": spec.product_id,
        "bids": [{"price": dec(p), "size": dec(s)} for p, s in bids],
        "asks": [{"price": dec(p), "size": dec(s)} for p, s in asks],
        "time": rfc3339(state.now()),
    }


# ---------------------------------------------------------------- placements


def created(state: SimState, order: ExchangeOrder) -> dict[str, Any]:
    return {
        "success": True,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": order.order_id,
        "success_response": {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "side": order.side.value,
            "client_order_id": order.client_order_id,
        },
        "order_configuration": order_configuration(state, order),
    }


def create_failure(reason: str, message: str, config: dict[str, Any]) -> dict[str, Any]:
    """A refused placement as Coinbase sends it (recorded replies: ccxt issues #20419 and
    #25217): the top-level `failure_reason` says UNKNOWN_FAILURE_REASON; the reason is in
    `error_response` (`error`, `new_order_failure_reason`) and, as a PREVIEW_* value, in
    `preview_failure_reason`."""
    if reason.startswith("PREVIEW_"):
        order_reason, preview = "UNKNOWN_FAILURE_REASON", reason
    else:
        order_reason = reason
        preview = f"PREVIEW_{reason}" if reason in PREVIEW_OF else "UNKNOWN_PREVIEW_FAILURE_REASON"
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": order_reason,
            "message": message or reason,
            "error_details": "",  # empty in every refusal recorded from Coinbase
            "preview_failure_reason": preview,
            "new_order_failure_reason": order_reason,
        },
        "order_configuration": config,
    }
