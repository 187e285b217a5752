"""Replies recorded from the real Coinbase (tests/fixtures/coinbase, sources in its
README): read through tradekit's parsers with asserted values, and the simulator's reply
to the same call compared with each, key by key and type by type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tradekit.core.events import MarketTrade, OrderStatusReport
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.coinbase import wire
from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.products import BTC_USD, ETH_USD
from tradekit.sim import ws_payloads
from tradekit.sim.server import SimServer
from tradekit.sim.state import SimState

FIXTURES = Path(__file__).parents[2] / "fixtures" / "coinbase"
FAST = 100_000.0
BTC_USDC = replace(BTC_USD, product_id="BTC-USDC")


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__  # str, list, dict


def same_shape(
    real: Any, ours: Any, where: str = "$", missing_ok: frozenset[str] = frozenset()
) -> None:
    """Every key Coinbase sent, the simulator sends too, with a value of the same JSON
    type (objects compared recursively, lists by their first item). The simulator may
    send more (newer fields); what it may lack is named in `missing_ok`."""
    assert kind(real) == kind(ours), (
        f"{where}: Coinbase sends {kind(real)}, the simulator {kind(ours)}"
    )
    if isinstance(real, dict):
        for key, value in real.items():
            if key in missing_ok:
                continue
            assert key in ours, f"{where}.{key}: sent by Coinbase, not by the simulator"
            same_shape(value, ours[key], f"{where}.{key}", missing_ok)
    elif isinstance(real, list) and real and ours:
        same_shape(real[0], ours[0], f"{where}[0]", missing_ok)


def test_the_shape_check_catches_what_it_should() -> None:
    same_shape({"a": "1", "b": [{"c": True}]}, {"a": "2", "b": [{"c": False, "d": 1}], "e": None})
    for ours in ({"a": 1, "b": []}, {"b": []}, {"a": "1", "b": [{"c": "true"}]}):
        with pytest.raises(AssertionError):
            same_shape({"a": "1", "b": [{"c": True}]}, ours)


# ------------------------------------------------------------------ the parsers


def test_a_refusal_for_funds_reads_as_insufficient_fund() -> None:
    r = wire.place_result(recorded("create_order_insufficient_fund.json"), "c1")
    assert not r.success and r.order_id is None
    assert r.failure_reason == "INSUFFICIENT_FUND"
    assert r.message == "Insufficient balance in source account"


def test_a_preview_refusal_reads_as_its_preview_reason() -> None:
    r = wire.place_result(recorded("create_order_stop_above_last.json"), "c2")
    assert not r.success and r.failure_reason == "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"


def test_a_success_with_a_failure_reason_is_a_success() -> None:
    r = wire.place_result(recorded("create_order_success.json"), "clientOrderId")
    assert r.success and r.order_id == "5f1c2d2a-1b7e-4ef9-9587-fc71dee4f912"


def test_a_recorded_fill() -> None:
    [raw] = recorded("fills_spot.json")["fills"]
    f = wire.fill(raw, "fills[0]")
    assert (f.price, f.size, f.commission) == (D("0.392"), D("10"), D("0.03136"))
    assert f.side is OrderSide.SELL and f.liquidity == "TAKER" and f.product_id == "ADA-USDT"
    assert f.order_id == "01b6e467-b659-432f-9490-c7cefe949564"
    assert f.ts == 1700993987_504000000


def test_a_market_order_placed_by_hand_is_a_foreign_order() -> None:
    [raw] = recorded("orders_market_ioc_filled.json")["orders"]
    o = wire.order(raw, "orders[0]")
    assert o.foreign and o.configuration == "market_market_ioc"
    assert o.status is OrderStatus.FILLED and o.side is OrderSide.SELL
    assert (o.size, o.filled_size, o.filled_value) == (D("10"), D("10"), D("3.92"))
    assert o.limit_price == D("0.392") and o.stop_price is None and o.hold == D("0")
    assert o.total_fees == D("0.03136")


def test_an_open_limit_order() -> None:
    o = wire.order(recorded("order_limit_open.json")["order"])
    assert not o.foreign and o.order_type is OrderType.LIMIT and o.status is OrderStatus.OPEN
    assert (o.size, o.limit_price, o.filled_size) == (D("0.001"), D("10000.00"), D("0.001"))
    assert o.hold == D("1.00") and o.created_ts == 1622455199_000000000


def test_recorded_accounts() -> None:
    raw = recorded("accounts.json")["accounts"]
    btc, usd = (wire.account(a, f"accounts[{i}]") for i, a in enumerate(raw))
    assert (btc.currency, btc.available, btc.hold) == ("BTC", D("1.23456789"), D("0.00500000"))
    assert (usd.available, usd.hold, usd.total) == (D("10000.50"), D("450.00"), D("10450.50"))


def test_recorded_market_trades_come_oldest_first() -> None:
    trades = wire.market_trades(recorded("ticker_market_trades.json"), "BTC-USD")
    assert [t.trade_id for t in trades] == ["995098661", "995098662", "995098663"]
    assert trades[-1] == MarketTrade(
        "BTC-USD", D("68923.67"), D("0.00064"), 1775521738_544778000, "995098663"
    )
    [usdc] = wire.market_trades(recorded("ticker_usdc.json"), "BTC-USDC")
    assert usdc.product_id == "BTC-USDC" and usdc.price == D("66363.03")
    with pytest.raises(wire.WireError, match="product_id"):
        wire.market_trades(recorded("ticker_usdc.json"), "ETH-USD")


def test_a_recorded_user_snapshot() -> None:
    feed = AsyncCoinbaseFeed("ws://127.0.0.1:1/ws", ["BTC-USD"])
    [r] = feed._receive(json.dumps(recorded("ws_user_snapshot.json")))
    assert isinstance(r, OrderStatusReport)
    assert (r.client_order_id, r.order_id) == (
        "11111-000000-000001",
        "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
    )
    assert r.status is OrderStatus.OPEN and r.filled_size == D("0") and r.filled_value == D("0")
    assert feed.stats.bad_messages == 0


# ------------------------------------------------------- the simulator, compared


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    exchange = PaperExchange(
        [BTC_USD, ETH_USD, BTC_USDC],
        {"USD": D("100000"), "BTC": D("1"), "USDC": D("5")},
        fill_model="trade_size",  # the simulator's default: partial fills
    )
    state = SimState(exchange)
    keys = tmp_path_factory.mktemp("recorded") / "key.json"
    with SimServer(state, keys_file=keys, rate_limit_per_s=FAST, public_rate_limit_per_s=FAST) as s:
        for pid, price in (
            ("BTC-USD", "60000.00"),
            ("BTC-USDC", "60001.00"),
            ("ETH-USD", "3000.00"),
        ):
            for n in range(1, 4):  # trade ids count up, as Coinbase's do
                trade = MarketTrade(pid, D(price), D("0.5"), s.call(lambda st: st.now()), str(n))
                s.call(lambda st, t=trade: st.advance(t))
        yield s


@pytest.fixture(scope="module")
def rest(sim: SimServer) -> Iterator[CoinbaseRest]:
    assert sim.keys_file is not None
    with CoinbaseRest(Credentials.from_file(sim.keys_file), sim.base_url) as r:
        yield r


def create(rest: CoinbaseRest, body: dict[str, Any]) -> dict[str, Any]:
    reply = rest._request("POST", "/orders", body=body)
    assert isinstance(reply, dict)
    return reply


def test_the_simulators_refusals_are_shaped_as_coinbases(rest: CoinbaseRest) -> None:
    funds = create(
        rest,
        {
            "client_order_id": "rec-funds",
            "product_id": "BTC-USDC",
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "10"}},
        },
    )
    real = recorded("create_order_insufficient_fund.json")
    same_shape(real, funds)
    for key in ("success", "failure_reason", "order_id"):
        assert funds[key] == real[key], key
    for key in ("error", "preview_failure_reason", "error_details"):
        assert funds["error_response"][key] == real["error_response"][key], key
    stop = create(
        rest,
        {
            "client_order_id": "rec-stop",
            "product_id": "ETH-USD",
            "side": "SELL",
            "order_configuration": {
                "stop_limit_stop_limit_gtc": {
                    "base_size": "0.0001",
                    "limit_price": "3005",
                    "stop_price": "3010",
                    "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                }
            },
        },
    )
    real = recorded("create_order_stop_above_last.json")
    same_shape(real, stop)
    assert (
        stop["error_response"]["preview_failure_reason"]
        == real["error_response"]["preview_failure_reason"]
    )
    assert stop["error_response"]["error"] == "UNKNOWN_FAILURE_REASON"
    assert (
        wire.place_result(stop, "rec-stop").failure_reason
        == "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"
    )


def test_the_simulators_orders_fills_and_trades_are_shaped_as_coinbases(
    sim: SimServer, rest: CoinbaseRest
) -> None:
    ok = create(
        rest,
        {
            "client_order_id": "rec-market",
            "product_id": "BTC-USD",
            "side": "SELL",
            "order_configuration": {"market_market_ioc": {"base_size": "0.01"}},
        },
    )
    same_shape(recorded("create_order_success.json"), ok)
    assert ok["failure_reason"] == "UNKNOWN_FAILURE_REASON" and ok["success"] is True
    orders = rest._request("GET", "/orders/historical/batch", params={"order_ids": ok["order_id"]})
    real = recorded("orders_market_ioc_filled.json")
    same_shape(real, orders)
    mine = orders["orders"][0]
    for key in (
        "status",
        "time_in_force",
        "order_type",
        "trigger_status",
        "reject_reason",
        "product_type",
    ):
        assert mine[key] == real["orders"][0][key], key
    assert wire.order(mine).foreign
    fills = rest._request("GET", "/orders/historical/fills", params={"order_ids": ok["order_id"]})
    same_shape(recorded("fills_spot.json"), fills)
    assert fills["fills"][0]["trade_type"] == "FILL" and fills["fills"][0]["size_in_quote"] is False

    placed = rest.place_limit_buy("rec-limit", "BTC-USD", D("0.002"), D("60000.00"))
    trade = MarketTrade("BTC-USD", D("59999.00"), D("0.001"), sim.call(lambda st: st.now()), "4")
    sim.call(lambda st: st.advance(trade))  # a partial fill: last_fill_time is a time
    one = rest._request("GET", f"/orders/historical/{placed.order_id}")
    real = recorded("order_limit_open.json")
    same_shape(real, one)
    for key in (
        "status",
        "time_in_force",
        "order_type",
        "trigger_status",
        "reject_reason",
        "order_placement_source",
    ):
        assert one["order"][key] == real["order"][key], key

    ticker = rest._request(
        "GET", "/market/products/BTC-USD/ticker", params={"limit": 3}, auth=False
    )
    same_shape(recorded("ticker_market_trades.json"), ticker)
    ids = [int(t["trade_id"]) for t in ticker["trades"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3  # newest first, as Coinbase
    usdc = rest._request("GET", "/market/products/BTC-USDC/ticker", params={"limit": 1}, auth=False)
    same_shape(recorded("ticker_usdc.json"), usdc)
    assert usdc["trades"][0]["product_id"] == "BTC-USDC"  # REST keeps the -USDC label

    accounts = rest._request("GET", "/accounts")
    same_shape(recorded("accounts.json"), accounts)
    types = {a["currency"]: a["type"] for a in accounts["accounts"]}
    assert types["USD"] == "ACCOUNT_TYPE_FIAT" and types["BTC"] == "ACCOUNT_TYPE_CRYPTO"


def test_the_simulators_user_channel_orders_are_shaped_as_coinbases(sim: SimServer) -> None:
    def snapshot_order(state: SimState) -> dict[str, Any]:
        res = state.place_limit_buy("rec-user", "ETH-USD", D("0.001"), D("2900.00"))
        order = state.exchange.get_order(res.order_id)
        assert order is not None
        return ws_payloads.user_order(state, order)

    mine = sim.call(snapshot_order)
    real = recorded("ws_user_snapshot.json")["events"][0]["orders"][0]
    same_shape(real, mine)
    for key in (
        "order_type",
        "status",
        "order_side",
        "time_in_force",
        "trigger_status",
        "product_type",
    ):
        assert mine[key] == real[key], key
