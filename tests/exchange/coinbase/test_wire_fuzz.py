"""Coinbase's replies and feed messages, fuzzed: every malformed input is a `WireError`
naming where (the feed counts it as a bad message), never another exception, in bounded
time; whatever is accepted holds only finite, in-range, possible values."""

import json
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradekit.core.events import MarketTrade, OrderStatusReport
from tradekit.exchange.coinbase import wire
from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed
from tradekit.exchange.coinbase.wire import WireError

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

NASTY_TEXT = [
    "1e999999999", "-1e999999999", "1e30", "1e16", "-100", "-0.01", "0", "-0", "NaN",
    "Infinity", "-Infinity", "sNaN", "1e-999999999", "0E-999999999", "0E+999999999",
    "9" * 41, "1" * 5000, "1_000", " 1 ", "\u0663", "\u00b2", "", "x", "LIMIT", "BUY",
    "2026-11-25T09:00:0\u00b2Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
    "2026-11-25T09:00:99Z", "2026-11-25T09:00:00.1234567890123Z",
]  # fmt: skip
leaves = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=8),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)

ORDER: dict[str, Any] = {
    "order_id": "0000-1",
    "client_order_id": "run-BTC-USD-2",
    "product_id": "BTC-USD",
    "side": "SELL",
    "status": "OPEN",
    "order_type": "STOP_LIMIT",
    "created_time": "2026-11-25T09:00:00.123456789Z",
    "filled_size": "0.01",
    "average_filled_price": "59000.5",
    "filled_value": "590.005",
    "total_fees": "3.54003",
    "trigger_status": "STOP_TRIGGERED",
    "order_configuration": {
        "stop_limit_stop_limit_gtc": {
            "base_size": "0.05",
            "limit_price": "58700.00",
            "stop_price": "59000.00",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN",
        }
    },
}
FILL: dict[str, Any] = {
    "trade_id": "t",
    "order_id": "o",
    "product_id": "BTC-USD",
    "side": "BUY",
    "price": "100.5",
    "size": "0.1",
    "commission": "0.04",
    "trade_time": "2026-11-25T09:00:00Z",
}
PRODUCT: dict[str, Any] = {
    "product_id": "BTC-USD",
    "base_increment": "0.00000001",
    "quote_increment": "0.01",
    "base_min_size": "0.00000001",
    "base_max_size": "3400",
    "price_increment": "0.01",
    "quote_min_size": "1",
}
ACCOUNT: dict[str, Any] = {
    "currency": "USD",
    "available_balance": {"value": "10.5", "currency": "USD"},
    "hold": {"value": "1", "currency": "USD"},
}
PLACED: dict[str, Any] = {
    "success": False,
    "failure_reason": "UNKNOWN_FAILURE_REASON",
    "error_response": {"error": "INSUFFICIENT_FUND", "message": "no"},
    "success_response": {"order_id": "x"},
}
CANCELLED: dict[str, Any] = {"results": [{"success": True, "order_id": "o", "failure_reason": ""}]}
CANDLE: dict[str, Any] = {
    "start": "1704067200",
    "low": "99",
    "high": "101",
    "open": "100",
    "close": "100.5",
    "volume": "12.5",
}


def mutated(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The template with some fields replaced (by nasty values) or removed, nested
    objects included: close enough to valid to reach every check."""

    def build(
        changes: dict[str, Any], removed: list[str], inner: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        out = {k: v for k, v in template.items() if k not in removed}
        out.update(changes)
        for key, sub in inner.items():
            if isinstance(out.get(key), dict):
                nested = dict(out[key])
                if len(nested) == 1 and isinstance(next(iter(nested.values())), dict):
                    ((name, params),) = nested.items()
                    nested = {name: {**params, **sub}}
                else:
                    nested.update(sub)
                out[key] = nested
        return out

    keys = st.sampled_from(sorted(template))
    inner_keys = st.sampled_from(["base_size", "limit_price", "stop_price", "value", "order_id"])
    return st.builds(
        build,
        st.dictionaries(keys, values, max_size=3),
        st.lists(keys, max_size=2),
        st.dictionaries(keys, st.dictionaries(inner_keys, values, max_size=2), max_size=1),
    )


def in_range(d: D) -> bool:
    return d.is_finite() and D(0) <= d < D("1e32")


def check_decimals(obj: object) -> None:
    for name in getattr(obj, "__dataclass_fields__", {}):
        v = getattr(obj, name)
        if isinstance(v, D):
            assert in_range(v), (name, v)


def parse(fn: Any, reply: Any, *args: Any) -> Any:
    """`fn(reply)` or None when it refused it with a WireError naming a place."""
    try:
        return fn(reply, *args)
    except WireError as e:
        assert e.where and str(e).startswith(e.where)
        return None


@FUZZ
@given(mutated(ORDER))
def test_order_replies(reply):
    o = parse(wire.order, reply)
    if o is not None:
        check_decimals(o)
        # tradekit's own orders carry their levels; a foreign one (placed by hand) may not:
        # a size in quote, or none yet, reads as what has filled (perhaps nothing)
        assert 0 <= o.filled_size <= o.size and (o.size > 0 or o.foreign)
        assert o.limit_price > 0 or (o.foreign and o.limit_price == 0)
        assert o.stop_price is None or o.stop_price > 0


def test_a_foreign_order_with_no_base_size_and_nothing_filled_reads_as_size_0():
    # found by the fuzz test ({"0": null}, nothing filled): a foreign order of a
    # configuration without base_size is listed with what has filled as its size
    reply = {**ORDER, "order_configuration": {"market_market_ioc": {"quote_size": "10"}}}
    nothing = {"filled_size": "0", "filled_value": "0", "average_filled_price": "0"}
    o = wire.order({**reply, **nothing})
    assert o.foreign and o.size == 0 and o.filled_size == 0 and o.limit_price == 0


def test_an_order_without_a_configuration_name_is_refused_not_taken_for_our_own():
    # found by the fuzz test: {"order_configuration": {"": null}} read as tradekit's own
    # order ("" names the paper exchange's) with a limit price of 0
    reply = {**ORDER, "order_configuration": {"": None}}
    with pytest.raises(WireError, match="order_configuration: a configuration without a name"):
        wire.order(reply)


@FUZZ
@given(mutated(FILL))
def test_fill_replies(reply):
    f = parse(wire.fill, reply)
    if f is not None:
        check_decimals(f)
        assert f.price > 0 and f.size > 0


@FUZZ
@given(mutated(PRODUCT))
def test_product_replies(reply):
    p = parse(wire.product, reply)
    if p is not None:
        check_decimals(p)
        assert p.base_increment > 0 and p.quote_increment > 0


@FUZZ
@given(mutated(ACCOUNT))
def test_account_replies(reply):
    b = parse(wire.account, reply, "accounts[0]")
    if b is not None:
        check_decimals(b)


@FUZZ
@given(mutated(CANDLE))
def test_candle_replies(reply):
    c = parse(wire.candle, reply, "candles[4]")
    if c is not None:
        check_decimals(c)
        assert 0 < c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
        assert c.start >= 0 and c.high < D("1e16")


@FUZZ
@given(mutated(PLACED), mutated(CANCELLED))
def test_place_and_cancel_replies(placed, cancelled):
    parse(wire.place_result, placed, "coid")
    parse(wire.cancel_results, cancelled)


@FUZZ
@given(st.one_of(values, st.text(max_size=30), st.binary(max_size=30)))
def test_anything_at_all(reply):
    for fn in (wire.order, wire.fill, wire.product, wire.candle):
        parse(fn, reply)
    parse(wire.account, reply, "a")
    parse(wire.place_result, reply, "coid")
    parse(wire.cancel_results, reply)
    if isinstance(reply, str | bytes):
        parse(wire.message, reply)


# -- the feed -------------------------------------------------------------------------

TRADES = {
    "channel": "market_trades",
    "timestamp": "2026-11-25T09:00:00.000000001Z",
    "sequence_num": 0,
    "events": [
        {
            "type": "update",
            "trades": [
                {
                    "trade_id": "1",
                    "product_id": "BTC-USD",
                    "price": "60000.5",
                    "size": "0.1",
                    "side": "BUY",
                    "time": "2026-11-25T09:00:00.5Z",
                }
            ],
        }
    ],
}
USER = {
    "channel": "user",
    "timestamp": "2026-11-25T09:00:00.000000001Z",
    "sequence_num": 0,
    "events": [
        {
            "type": "update",
            "orders": [
                {
                    "order_id": "o1",
                    "client_order_id": "c1",
                    "cumulative_quantity": "0.5",
                    "avg_price": "100",
                    "total_fees": "0.1",
                    "status": "OPEN",
                    "trigger_status": "INVALID_ORDER_TYPE",
                }
            ],
        }
    ],
}


def with_item(message: dict[str, Any], key: str, item: dict[str, Any]) -> dict[str, Any]:
    [event] = message["events"]
    return {**message, "events": [{**event, key: [item]}]}


def feed_messages() -> st.SearchStrategy[str | bytes]:
    trade = mutated(TRADES["events"][0]["trades"][0]).map(lambda t: with_item(TRADES, "trades", t))
    order = mutated(USER["events"][0]["orders"][0]).map(lambda o: with_item(USER, "orders", o))
    return st.one_of(
        st.one_of(trade, order, mutated(TRADES), mutated(USER)).map(json.dumps),
        st.text(max_size=40),
        st.binary(max_size=40),
        st.sampled_from(["[" * 100_000, '{"a":' * 100_000, '{"events":NaN}', "1e999999"]),
    )


def feed() -> AsyncCoinbaseFeed:
    return AsyncCoinbaseFeed("ws://127.0.0.1:1/ws", ["BTC-USD"])


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(feed_messages(), min_size=1, max_size=4))
def test_feed_messages(raws):
    f = feed()
    for n, raw in enumerate(raws, 1):
        for ev in f._receive(raw):  # never raises: a bad message is counted and resynced
            check_decimals(ev)
            if isinstance(ev, MarketTrade):
                assert ev.price > 0 and ev.size > 0
            else:
                assert isinstance(ev, OrderStatusReport)
        assert f.stats.messages == n


# -- regressions: each crash class the fuzzing found ---------------------------


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"price_increment": "0", "quote_increment": "0"}, "product.price_increment"),
        ({"base_increment": "-0.01"}, "product.base_increment"),
        ({"base_increment": "1e999999999"}, "product.base_increment"),
        ({"base_max_size": "0.000000001"}, "product.base_max_size"),
    ],
)
def test_impossible_products_are_wire_errors(change, where):
    """Were a ValueError from ProductSpec, or an overflow later."""
    with pytest.raises(WireError) as info:
        wire.product({**PRODUCT, **change})
    assert info.value.where == where


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"order_type": ["LIMIT"]}, "order.order_type"),  # was TypeError: unhashable type
        ({"order_type": {"a": 1}}, "order.order_type"),
        ({"filled_value": None, "average_filled_price": "1e999999"}, "order.average_filled_price"),
        ({"filled_size": "1e30"}, "order.filled_size"),  # was an Overflow downstream
        ({"filled_size": "0.06"}, "order.filled_size"),  # filled > ordered (0.05)
        ({"total_fees": "-0.01"}, "order.total_fees"),  # negative fees
        ({"filled_value": "-1"}, "order.filled_value"),
        ({"created_time": "2026-11-25T09:00:0\u00b2Z"}, "order.created_time"),  # int("0²")
        ({"created_time": "0001-01-01T00:00:00+23:59"}, "order.created_time"),  # OverflowError
    ],
)  # fmt: skip
def test_impossible_orders_are_wire_errors(change, where):
    with pytest.raises(WireError) as info:
        wire.order({**ORDER, **change})
    assert info.value.where == where


def test_impossible_order_prices_and_sizes_name_the_field():
    cwhere = "order.order_configuration.stop_limit_stop_limit_gtc"
    for key in ("base_size", "limit_price", "stop_price"):
        for bad in ("0", "-100", "1e999999999"):
            config = {**ORDER["order_configuration"]["stop_limit_stop_limit_gtc"], key: bad}
            reply = {**ORDER, "order_configuration": {"stop_limit_stop_limit_gtc": config}}
            with pytest.raises(WireError) as info:
                wire.order(reply)
            assert info.value.where == f"{cwhere}.{key}"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"price": "0"}, "fills[3].price"),
        ({"price": "-100"}, "fills[3].price"),
        ({"size": "0"}, "fills[3].size"),
        ({"commission": "-0.5"}, "fills[3].commission"),
    ],
)
def test_impossible_fills_are_wire_errors(change, where):
    with pytest.raises(WireError) as info:
        wire.fill({**FILL, **change}, "fills[3]")
    assert info.value.where == where


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"start": "17e8"}, "candles[4].start"),  # was a ValueError from int()
        ({"start": "\u0663"}, "candles[4].start"),
        ({"start": "1" * 5000}, "candles[4].start"),
        ({"volume": "1e30"}, "candles[4].volume"),
        ({"low": "-100"}, "candles[4].low"),
        ({"high": "1e999999999"}, "candles[4].high"),
        ({"high": "100"}, "candles[4]"),  # high below the close: not a bar
    ],
)
def test_impossible_candles_are_wire_errors(change, where):
    with pytest.raises(WireError) as info:
        wire.candle({**CANDLE, **change}, "candles[4]")
    assert info.value.where == where


def test_negative_balances_are_wire_errors():
    reply = {**ACCOUNT, "hold": {"value": "-1"}}
    with pytest.raises(WireError) as info:
        wire.account(reply, "accounts[2]")
    assert info.value.where == "accounts[2].hold.value"


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 100_000, "[" * 40 + "]" * 40])
def test_deep_nesting_is_a_wire_error(raw):
    with pytest.raises(WireError, match="nested deeper than 32"):
        wire.message(raw)


def test_feed_refuses_deep_nesting_a_negative_trade_and_an_overflow():
    f = feed()
    assert f._receive("[" * 100_000) == []  # was RecursionError
    assert f.stats.bad_messages == 1 and "nested deeper" in f.stats.last_error
    trade = TRADES["events"][0]["trades"][0]
    for n, price in enumerate(["-100", "0", "1e999999999"], 1):
        msg = with_item({**TRADES, "sequence_num": n}, "trades", {**trade, "price": price})
        assert f._receive(json.dumps(msg)) == []
        assert f.stats.bad_messages == 1 + n
        assert "events[0].trades[0].price" in f.stats.last_error
    order = USER["events"][0]["orders"][0]
    big = {**order, "cumulative_quantity": "9e999999", "avg_price": "9e999999"}  # was Overflow
    assert f._receive(json.dumps(with_item({**USER, "sequence_num": 9}, "orders", big))) == []
    assert "events[0].orders[0].cumulative_quantity" in f.stats.last_error
    # and a good trade still passes
    good = with_item({**TRADES, "sequence_num": 10}, "trades", trade)
    [ev] = f._receive(json.dumps(good))
    assert isinstance(ev, MarketTrade) and ev.price == D("60000.5")
