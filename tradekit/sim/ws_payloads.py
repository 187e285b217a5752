"""What the simulator's WebSocket channels carry, in Coinbase's shapes (the module
docstring of `tradekit.sim.ws` says which fields and why): tickers, candles, book levels,
market trades, product statuses, `user` orders, and Go's time formats. Pure functions
of the simulator's state; the connection (`tradekit.sim.ws`) decides when to send them.
"""

from __future__ import annotations

import time
from decimal import Decimal

from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec, plain
from tradekit.core.orders import OrderSide, OrderType
from tradekit.exchange.coinbase.wire import market_data_label
from tradekit.exchange.types import ExchangeOrder
from tradekit.sim.market import synth_book
from tradekit.sim.state import SimState

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_PCT = Decimal("0.00000001")
T0 = time.monotonic()  # heartbeats' monotonic clock reading (Go's m=+...)


def rfc3339nano(ns: int) -> str:
    """Go's RFC3339Nano, as Coinbase stamps messages: trailing zeros of the fraction cut."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


def go_time(ns: int) -> str:
    """Go's `time.Time.String()`, the format of Coinbase's heartbeat current_time."""
    seconds, frac = divmod(ns, 1_000_000_000)
    day = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    return f"{day}.{frac:09d} +0000 UTC m=+{time.monotonic() - T0:.9f}"


def book(state: SimState, pid: str, levels: int) -> dict[tuple[str, Decimal], Decimal]:
    """The synthetic book around the last price, `levels` a side, by (side, price)."""
    past = state.history[pid]
    assert past.last is not None
    bids, asks = synth_book(state.exchange.product(pid), past.last.price, levels)
    book = {("bid", price): size for price, size in bids}
    book.update({("offer", price): size for price, size in asks})
    return book


def ticker(state: SimState, pid: str, price: Decimal) -> dict[str, str]:
    """One `ticker` event at `price`, its 24 h and 52 w figures from the history."""
    past = state.history[pid]
    day = past.day_stats()
    bids, asks = synth_book(state.exchange.product(pid), price, 1)
    bid, bid_size = bids[0] if bids else (_ZERO, _ZERO)
    ask, ask_size = asks[0]
    volume = low = high = _ZERO
    change = _ZERO
    if day is not None:
        volume, low, high = day.volume, day.low, day.high
        if day.open:
            change = ((price - day.open) / day.open * _HUNDRED).quantize(_PCT)
    return {
        "type": "ticker",
        "product_id": market_data_label(pid),
        "price": plain(price),
        "volume_24_h": plain(volume),
        "low_24_h": plain(low),
        "high_24_h": plain(high),
        "low_52_w": plain(past.low if past.low is not None else _ZERO),
        "high_52_w": plain(past.high if past.high is not None else _ZERO),
        "price_percent_chg_24_h": plain(change),
        "best_bid": plain(bid),
        "best_bid_quantity": plain(bid_size),
        "best_ask": plain(ask),
        "best_ask_quantity": plain(ask_size),
    }


def candle(state: SimState, pid: str, granularity_s: int) -> dict[str, str] | None:
    """The product's current candle (None before its first trade)."""
    past = state.history.get(pid)
    candle = None if past is None else past.current_candle(granularity_s)
    if candle is None:
        return None
    return {
        "start": str(candle.start // 1_000_000_000),
        "high": plain(candle.high),
        "low": plain(candle.low),
        "open": plain(candle.open),
        "close": plain(candle.close),
        "volume": plain(candle.volume),
        "product_id": market_data_label(pid),
    }


def user_order(state: SimState, o: ExchangeOrder) -> dict[str, str]:
    """One order in the `user` channel's shape (the SDK's UserOrders), all strings."""
    exchange = state.exchange
    done = o.status.is_terminal
    leaves = _ZERO if done else o.size - o.filled_size
    avg = (o.filled_value / o.filled_size).normalize() if o.filled_size else _ZERO
    if o.side is OrderSide.BUY:
        after_fees = o.filled_value + o.total_fees
    else:
        after_fees = o.filled_value - o.total_fees
    if o.order_type is OrderType.STOP_LIMIT:
        trigger = "STOP_TRIGGERED" if o.triggered else "STOP_PENDING"
    else:
        trigger = "INVALID_ORDER_TYPE"
    percent = (o.filled_size / o.size * _HUNDRED).quantize(Decimal("0.01"))
    terms = exchange.order_terms(o.order_id)
    return {
        "order_id": o.order_id,
        "client_order_id": o.client_order_id,
        "cumulative_quantity": plain(o.filled_size),
        "leaves_quantity": plain(leaves),
        "avg_price": plain(avg),
        "total_fees": plain(o.total_fees),
        "total_value_after_fees": plain(after_fees),
        "status": o.status.value,
        "product_id": o.product_id,
        "product_type": "SPOT",
        "creation_time": rfc3339nano(o.created_ts),
        "order_side": o.side.value,
        "order_type": user_order_type(state, o, terms.market),
        "time_in_force": terms.time_in_force,
        "post_only": "false",
        "cancel_reason": "",
        "reject_reason": "",
        "limit_price": plain(o.limit_price),
        "stop_price": "" if o.stop_price is None else plain(o.stop_price),
        "trigger_status": trigger,
        "number_of_fills": str(len(exchange.list_fills(order_id=o.order_id))),
        "filled_value": plain(o.filled_value),
        "outstanding_hold_amount": plain(exchange.order_hold(o.order_id)),
        "completion_percentage": plain(percent),
        "end_time": "",
        "start_time": "",
        "retail_portfolio_id": state.uuid,
        "contract_expiry_type": "UNKNOWN_CONTRACT_EXPIRY_TYPE",
        "risk_managed_by": "UNKNOWN_RISK_MANAGEMENT_TYPE",
    }


# The user channel spells order types in words, unlike REST's LIMIT / STOP_LIMIT (as
# recorded: "Limit"; the others as NautilusTrader's Coinbase adapter reads them)
def usdc_book(pid: str, products: dict[str, ProductSpec]) -> str:
    """On Coinbase a -USDC product shares the -USD product's book, and its market
    channels take the -USD id: here, when only X-USDC is listed, X-USD subscribes to it."""
    usdc = pid + "C"
    if pid not in products and usdc in products and market_data_label(usdc) == pid:
        return usdc
    return pid


def user_order_type(state: SimState, o: ExchangeOrder, market: bool) -> str:
    if market:
        return "Market"
    meta = state.meta.get(o.client_order_id)
    if meta is not None and meta.config_key.startswith("trigger_bracket"):
        return "Bracket"
    return "Stop Limit" if o.order_type is OrderType.STOP_LIMIT else "Limit"


def trade(trade: MarketTrade, side: str) -> dict[str, str]:
    return {
        "trade_id": trade.trade_id,
        "product_id": market_data_label(trade.product_id),
        "price": plain(trade.price),
        "size": plain(trade.size),
        "side": side,
        "time": rfc3339nano(trade.ts),
    }


def levels(book: dict[tuple[str, Decimal], Decimal], when: str) -> list[dict[str, str]]:
    """Level updates, bids best (highest) first then offers best (lowest) first."""
    bids = sorted((k for k in book if k[0] == "bid"), key=lambda k: k[1], reverse=True)
    asks = sorted((k for k in book if k[0] == "offer"), key=lambda k: k[1])
    return [
        {
            "side": side,
            "event_time": when,
            "price_level": plain(price),
            "new_quantity": plain(book[(side, price)]),
        }
        for side, price in bids + asks
    ]


def product_status(spec: ProductSpec) -> dict[str, str]:
    return {
        "product_type": "SPOT",
        "id": spec.product_id,
        "base_currency": spec.base_currency,
        "quote_currency": spec.quote_currency,
        "base_increment": plain(spec.base_increment),
        "quote_increment": plain(spec.quote_increment),
        "display_name": spec.product_id,
        "status": "online",
        "status_message": "",
        "min_market_funds": plain(spec.quote_min_size),
    }


FCM_ZEROS = {
    name: "0"
    for name in (
        "futures_buying_power",
        "total_usd_balance",
        "cbi_usd_balance",
        "cfm_usd_balance",
        "total_open_orders_hold_amount",
        "unrealized_pnl",
        "daily_realized_pnl",
        "initial_margin",
        "available_margin",
        "liquidation_threshold",
        "liquidation_buffer_amount",
        "liquidation_buffer_percentage",
    )
}
