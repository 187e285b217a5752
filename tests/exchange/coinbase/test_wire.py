from decimal import Decimal as D

import pytest

from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.coinbase import wire
from tradekit.exchange.coinbase.wire import WireError

ORDER = {
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


def test_order_is_parsed_exactly():
    o = wire.order(ORDER)
    assert o.order_type is OrderType.STOP_LIMIT and o.side is OrderSide.SELL
    assert o.status is OrderStatus.OPEN and o.triggered
    assert (o.size, o.limit_price, o.stop_price) == (D("0.05"), D("58700.00"), D("59000.00"))
    assert o.filled_value == D("590.005") and o.total_fees == D("3.54003")
    assert o.created_ts == 1795597200_123456789


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"filled_size": 0.01}, "order.filled_size"),
        ({"status": "WEIRD"}, "order.status"),
        ({"product_id": None}, "order.product_id"),
        ({"created_time": "yesterday"}, "order.created_time"),
        ({"order_configuration": {}}, "order.order_configuration"),
        (
            {"order_configuration": {"stop_limit_stop_limit_gtc": {"base_size": "1"}}},
            "order.order_configuration.stop_limit_stop_limit_gtc.stop_price",
        ),
        ({"total_fees": "Infinity"}, "order.total_fees"),
    ],
)
def test_bad_orders_name_the_field(change, where):
    with pytest.raises(WireError) as info:
        wire.order({**ORDER, **change})
    assert str(info.value).startswith(where)


def test_place_results():
    ok = {
        "success": True,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "success_response": {"order_id": "x1", "client_order_id": "c"},
    }
    assert wire.place_result(ok, "c").order_id == "x1"
    refused = {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "error_response": {
            "error": "INSUFFICIENT_FUND",
            "new_order_failure_reason": "INSUFFICIENT_FUND",
            "message": "Insufficient balance in source account",
        },
    }
    r = wire.place_result(refused, "c")
    assert not r.success and r.failure_reason == "INSUFFICIENT_FUND"
    preview = {
        "success": False,
        "error_response": {
            "error": "UNKNOWN_FAILURE_REASON",
            "preview_failure_reason": "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE",
        },
    }
    assert wire.place_result(preview, "c").failure_reason.startswith("PREVIEW_STOP")
    with pytest.raises(WireError, match=r"create_order\.success"):
        wire.place_result({"success": "yes"}, "c")


def test_bodies_use_plain_decimal_strings():
    body = wire.stop_limit_sell_body("c", "BTC-USD", D("1E-8"), D("59000.00"), D("58700.00"))
    cfg = body["order_configuration"]["stop_limit_stop_limit_gtc"]
    assert cfg == {
        "base_size": "0.00000001",
        "limit_price": "58700.00",
        "stop_price": "59000.00",
        "stop_direction": "STOP_DIRECTION_STOP_DOWN",
    }


def test_fill_and_product_and_account():
    f = wire.fill(
        {
            "trade_id": "t",
            "order_id": "o",
            "product_id": "BTC-USD",
            "side": "BUY",
            "price": "100.5",
            "size": "0.1",
            "commission": "0.04",
            "trade_time": "2026-11-25T09:00:00Z",
        }
    )
    assert f.price == D("100.5") and f.ts == 1795597200 * 10**9
    p = wire.product(
        {
            "product_id": "BTC-USD",
            "base_increment": "0.00000001",
            "quote_increment": "0.01",
            "base_min_size": "0.00000001",
            "base_max_size": "3400",
            "price_increment": "0.01",
        }
    )
    assert p.quote_increment == D("0.01") and p.base_max_size == D("3400")
    b = wire.account(
        {
            "currency": "USD",
            "available_balance": {"value": "10.5", "currency": "USD"},
            "hold": {"value": "1", "currency": "USD"},
        },
        "a",
    )
    assert b.total == D("11.5")
    assert wire.plain(D("1E-8")) == "0.00000001"
    assert wire.timestamp_ns({"t": wire.rfc3339(1795597200_000000001)}, "t", "x") == (
        1795597200_000000001
    )


@pytest.mark.parametrize(
    ("config", "order_type", "size", "limit", "stop"),
    [
        ({"market_market_ioc": {"quote_size": "10"}}, "MARKET", "0.01", "59000.5", None),
        ({"market_market_ioc": {"base_size": "0.2"}}, "MARKET", "0.2", "59000.5", None),
        (
            {
                "trigger_bracket_gtc": {
                    "base_size": "0.3",
                    "limit_price": "70000",
                    "stop_trigger_price": "50000",
                }
            },
            "BRACKET",
            "0.3",
            "70000",
            "50000",
        ),
        (
            {
                "twap_limit_gtd": {
                    "quote_size": "100",
                    "limit_price": "61000",
                    "end_time": "2026-11-26T00:00:00Z",
                }
            },
            "TWAP",
            "0.01",
            "61000",
            None,
        ),
        (
            {"scaled_limit_gtc": {"orders": [], "base_size": "0.4"}},
            "SCALED",
            "0.4",
            "59000.5",
            None,
        ),
        (
            {"something_new_gtc": "not even an object"},
            "UNKNOWN_ORDER_TYPE",
            "0.01",
            "59000.5",
            None,
        ),
    ],
)
def test_orders_of_any_configuration_are_read_as_foreign(config, order_type, size, limit, stop):
    """An order placed by hand, of any type, never makes a list or a resync fail: it is
    read as a foreign order (listed and counted, never managed)."""
    raw = {**ORDER, "order_configuration": config, "order_type": order_type, "trigger_status": ""}
    raw["outstanding_hold_amount"] = "12.5"
    o = wire.order(raw)
    assert o.foreign and o.configuration == next(iter(config))
    assert (o.size, o.limit_price) == (D(size), D(limit))
    assert o.stop_price == (None if stop is None else D(stop))
    assert o.filled_size == D("0.01") and o.hold == D("12.5") and o.status is OrderStatus.OPEN


def test_own_orders_are_not_foreign_and_edit_queued_is_still_working():
    o = wire.order({**ORDER, "status": "EDIT_QUEUED"})
    assert not o.foreign and o.configuration == "stop_limit_stop_limit_gtc"
    assert o.status is OrderStatus.OPEN  # an edit on its way: the order still rests


def test_a_fill_sized_in_quote_is_read_in_base():
    raw = {
        "trade_id": "t1",
        "order_id": "o1",
        "product_id": "BTC-USD",
        "side": "BUY",
        "price": "50000",
        "size": "10",
        "size_in_quote": True,
        "commission": "0.06",
        "trade_time": "2026-11-25T09:00:00Z",
    }
    f = wire.fill(raw)
    assert f.size == D("0.0002") and f.price == D("50000")
    assert wire.fill({**raw, "size_in_quote": False}).size == D("10")
    with pytest.raises(WireError, match=r"fill\.size_in_quote"):
        wire.fill({**raw, "size_in_quote": "yes"})


def test_market_data_labels():
    assert wire.market_data_label("BTC-USDC") == "BTC-USD"
    assert wire.market_data_label("BTC-USD") == "BTC-USD"
    assert wire.market_data_label("USDT-USDC") == "USDT-USDC"  # a book of its own
    assert wire.market_data_label("EURC-USDC") == "EURC-USDC"
    assert wire.market_data_label("ETH-BTC") == "ETH-BTC"
