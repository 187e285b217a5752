"""The order types third-party Coinbase clients send: market IOC, limit IOC / FOK, buy
stops and STOP_UP stops. Figures computed by hand; `fresh()` last traded 100.00 (size 1)
with 10,000 USD and 2 BTC, maker 0.4 %, taker 0.6 %."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from helpers.paperhelp import fresh, trade

from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.paper import (
    OrderTerms,
    PaperExchange,
    Reason,
    StopDirection,
    TimeInForce,
)

BUY, SELL = OrderSide.BUY, OrderSide.SELL
UP, DOWN = StopDirection.STOP_UP, StopDirection.STOP_DOWN


def funds(ex: PaperExchange, currency: str) -> tuple[D, D]:
    b = ex.balances()[currency]
    return b.available, b.hold


# ------------------------------------------------------------------ market IOC


def test_a_market_buy_by_base_size_fills_at_the_last_trade_as_taker():
    ex = fresh()
    r = ex.place_market_ioc("m", "BTC-USD", BUY, base_size=D("0.5"))
    assert r.success and "filled 0.5 at 100.00" in r.message
    (f,) = ex.list_fills(order_id=r.order_id)
    assert (f.side, f.price, f.size, f.liquidity, f.commission) == (
        BUY,
        D("100.00"),
        D("0.5"),
        "TAKER",
        D("0.300"),
    )
    order = ex.get_order(r.order_id)
    assert (order.status, order.order_type, order.limit_price) == (
        OrderStatus.FILLED,
        OrderType.LIMIT,
        D("100.00"),  # a market order's limit_price: the price it executed against
    )
    assert ex.order_terms(r.order_id) == OrderTerms(TimeInForce.IOC, None, market=True)
    assert funds(ex, "USD") == (D("9949.700"), 0)  # 10000 - 50.00 - 0.300
    assert funds(ex, "BTC") == (D("2.5"), 0)
    assert ex.list_open_orders() == []


def test_a_market_buy_by_quote_size_spends_at_most_that_fee_included():
    ex = fresh()
    r = ex.place_market_ioc("m", "BTC-USD", BUY, quote_size=D("100.00"))
    # size = round_down(100.00 / (100.00 x 1.006), 0.00000001) = 0.99403578
    (f,) = ex.list_fills(order_id=r.order_id)
    assert (f.price, f.size) == (D("100.00"), D("0.99403578"))
    assert f.commission == D("0.596421468")  # 99.403578 x 0.006
    assert funds(ex, "USD") == (D("9900.000000532"), 0)  # 10000 - 99.999999468
    assert ex.order_terms(r.order_id).quote_size == D("100.00")


def test_a_market_sell_by_base_size():
    ex = fresh()
    r = ex.place_market_ioc("m", "BTC-USD", SELL, base_size=D("1"))
    (f,) = ex.list_fills(order_id=r.order_id)
    assert (f.side, f.price, f.commission) == (SELL, D("100.00"), D("0.600"))
    assert funds(ex, "USD") == (D("10099.400"), 0)
    assert funds(ex, "BTC") == (D("1"), 0)


@pytest.mark.parametrize(
    ("side", "kwargs", "reason"),
    [
        (SELL, {"quote_size": D("50.00")}, Reason.UNSUPPORTED_ORDER_CONFIGURATION),
        (BUY, {"quote_size": D("50.001")}, Reason.INVALID_QUOTE_SIZE_PRECISION),
        (BUY, {"quote_size": D("0")}, Reason.QUOTE_SIZE_TOO_SMALL),
        (BUY, {"quote_size": D("-1.00")}, Reason.QUOTE_SIZE_TOO_SMALL),
        (BUY, {"base_size": D("0.000000001")}, Reason.INVALID_SIZE_PRECISION),
        (BUY, {"base_size": D("100")}, Reason.INSUFFICIENT_FUND),  # 10060.00 with the fee
        (SELL, {"base_size": D("2.1")}, Reason.INSUFFICIENT_FUND),
    ],
)
def test_market_refusals_create_nothing(side, kwargs, reason):
    ex = fresh()
    before = ex.state()
    r = ex.place_market_ioc("m", "BTC-USD", side, **kwargs)
    assert (r.success, r.failure_reason, r.order_id) == (False, reason, None)
    assert r.message
    assert ex.state() == before


def test_a_market_order_takes_exactly_one_size():
    ex = fresh()
    with pytest.raises(ValueError, match="exactly one"):
        ex.place_market_ioc("m", "BTC-USD", BUY)
    with pytest.raises(ValueError, match="exactly one"):
        ex.place_market_ioc("m", "BTC-USD", BUY, base_size=D("1"), quote_size=D("1.00"))
    with pytest.raises(TypeError, match="float"):
        ex.place_market_ioc("m", "BTC-USD", BUY, base_size=0.5)  # type: ignore[arg-type]


def test_immediate_orders_need_a_trade_to_fill_against():
    ex = PaperExchange(balances={"USD": D("1000"), "BTC": D("1")})
    for r in (
        ex.place_market_ioc("a", "BTC-USD", BUY, base_size=D("0.1")),
        ex.place_limit_ioc("b", "BTC-USD", SELL, D("0.1"), D("90.00")),
        ex.place_limit_fok("c", "BTC-USD", BUY, D("0.1"), D("90.00")),
    ):
        assert (r.success, r.failure_reason) == (False, Reason.INVALID_NO_LIQUIDITY)
        assert "no trade on BTC-USD yet" in r.message
    assert ex.list_orders() == []
    ex.advance(trade("100.00"))
    assert ex.place_market_ioc("a", "BTC-USD", BUY, base_size=D("0.1")).success


# ------------------------------------------------------------- limit IOC / FOK


def test_a_marketable_limit_ioc_buy_fills_at_the_last_trade():
    ex = fresh()
    r = ex.place_limit_ioc("i", "BTC-USD", BUY, D("1"), D("101.00"))
    (f,) = ex.list_fills(order_id=r.order_id)
    assert (f.price, f.size, f.liquidity) == (D("100.00"), D("1"), "TAKER")
    assert ex.get_order(r.order_id).status is OrderStatus.FILLED
    assert funds(ex, "USD") == (D("9899.400"), 0)  # the hold at 101.00 fully released
    assert ex.order_terms(r.order_id) == OrderTerms(TimeInForce.IOC, None)


def test_a_limit_ioc_beyond_the_last_trade_is_cancelled_unfilled():
    ex = fresh()
    r = ex.place_limit_ioc("i", "BTC-USD", BUY, D("1"), D("99.00"))
    assert r.success and "nothing filled" in r.message
    order = ex.get_order(r.order_id)
    assert (order.status, order.filled_size) == (OrderStatus.CANCELLED, 0)
    assert funds(ex, "USD") == (D("10000"), 0)
    assert ex.advance(trade("98.00")) == []  # it never rests


def test_a_limit_ioc_fills_what_the_last_trade_allows_and_cancels_the_rest():
    ex = PaperExchange(balances={"USD": D("10000"), "BTC": D("2")}, fill_model="trade_size")
    ex.advance(trade("100.00", size="0.3"))
    r = ex.place_limit_ioc("i", "BTC-USD", SELL, D("0.5"), D("99.00"))
    assert "filled 0.3 of 0.5, the rest cancelled" in r.message
    order = ex.get_order(r.order_id)
    assert (order.status, order.filled_size, order.filled_value) == (
        OrderStatus.CANCELLED,
        D("0.3"),
        D("30.000"),
    )
    assert funds(ex, "BTC") == (D("1.7"), 0)
    assert funds(ex, "USD") == (D("10029.820"), 0)  # + 30.00 - 0.18


def test_a_limit_fok_fills_all_or_nothing():
    ex = PaperExchange(balances={"USD": D("10000"), "BTC": D("2")}, fill_model="trade_size")
    ex.advance(trade("100.00", size="0.3"))
    killed = ex.place_limit_fok("k", "BTC-USD", SELL, D("0.5"), D("99.00"))
    assert ex.get_order(killed.order_id).status is OrderStatus.CANCELLED
    assert ex.list_fills(order_id=killed.order_id) == []
    assert funds(ex, "BTC") == (D("2"), 0)
    done = ex.place_limit_fok("f", "BTC-USD", SELL, D("0.3"), D("99.00"))
    order = ex.get_order(done.order_id)
    assert (order.status, order.filled_size) == (OrderStatus.FILLED, D("0.3"))
    assert ex.order_terms(done.order_id).time_in_force == TimeInForce.FOK
    not_marketable = ex.place_limit_fok("n", "BTC-USD", BUY, D("0.1"), D("99.99"))
    assert ex.get_order(not_marketable.order_id).status is OrderStatus.CANCELLED


def test_the_full_fill_model_fills_a_marketable_ioc_whole():
    ex = fresh()  # the last print was 1 BTC; "full" ignores print sizes
    r = ex.place_limit_ioc("i", "BTC-USD", SELL, D("1.5"), D("100.00"))
    assert ex.get_order(r.order_id).status is OrderStatus.FILLED


def test_the_pessimistic_mode_fills_a_limit_ioc_sell_at_its_limit():
    ex = PaperExchange(balances={"BTC": D("1")}, sell_fills="limit")
    ex.advance(trade("100.00"))
    r = ex.place_limit_ioc("i", "BTC-USD", SELL, D("1"), D("99.00"))
    (f,) = ex.list_fills(order_id=r.order_id)
    assert (f.price, f.commission) == (D("99.00"), D("0.594"))
    assert funds(ex, "USD") == (D("98.406"), 0)  # 99.00 - 0.594
    m = ex.place_market_ioc("m", "BTC-USD", BUY, base_size=D("0.5"))
    (g,) = ex.list_fills(order_id=m.order_id)
    assert g.price == D("100.00")  # a market order has no limit: the last trade's price


def test_a_repeated_client_order_id_returns_the_immediate_order():
    ex = fresh()
    first = ex.place_market_ioc("m", "BTC-USD", BUY, base_size=D("0.5"))
    again = ex.place_market_ioc("m", "BTC-USD", BUY, base_size=D("0.5"))
    assert (again.success, again.order_id) == (True, first.order_id)
    assert len(ex.list_fills()) == 1


# ---------------------------------------------------------------------- stops


def test_a_buy_stop_up_triggers_on_a_rise_and_fills_at_its_limit():
    ex = fresh()
    r = ex.place_stop_limit(
        "s", "BTC-USD", D("1"), D("105.00"), D("106.00"), side=BUY, stop_direction=UP
    )
    assert funds(ex, "USD") == (D("9893.364"), D("106.636"))  # 106.00 x 1.006 held
    assert ex.order_terms(r.order_id) == OrderTerms(TimeInForce.GTC, UP)
    assert ex.advance(trade("104.99")) == []
    (f,) = ex.advance(trade("105.50"))  # triggers, at or under its limit: buys at the limit
    assert (f.side, f.price, f.liquidity, f.commission) == (BUY, D("106.00"), "TAKER", D("0.636"))
    assert funds(ex, "USD") == (D("9893.364"), 0)
    assert funds(ex, "BTC") == (D("3"), 0)


def test_a_buy_stop_up_gapped_over_its_limit_rests_then_fills_as_maker():
    ex = fresh()
    r = ex.place_stop_limit(
        "s", "BTC-USD", D("1"), D("105.00"), D("106.00"), side=BUY, stop_direction=UP
    )
    assert ex.advance(trade("107.00")) == []
    assert ex.last_triggered() == [r.order_id]
    order = ex.get_order(r.order_id)
    assert (order.triggered, order.status) == (True, OrderStatus.OPEN)
    assert ex.advance(trade("106.50")) == []
    (f,) = ex.advance(trade("105.80"))
    assert (f.price, f.liquidity, f.commission) == (D("106.00"), "MAKER", D("0.424"))


def test_a_sell_stop_up_takes_profit_at_the_trigger_trade():
    ex = fresh()
    ex.place_stop_limit("s", "BTC-USD", D("1"), D("105.00"), D("104.00"), stop_direction=UP)
    assert ex.advance(trade("104.99")) == []
    (f,) = ex.advance(trade("105.20"))
    assert (f.side, f.price, f.liquidity, f.commission) == (SELL, D("105.20"), "TAKER", D("0.6312"))


def test_a_buy_stop_down_fills_at_its_limit():
    ex = fresh()
    ex.place_stop_limit("s", "BTC-USD", D("1"), D("95.00"), D("96.00"), side=BUY)
    (f,) = ex.advance(trade("94.00"))
    assert (f.side, f.price, f.liquidity) == (BUY, D("96.00"), "TAKER")


@pytest.mark.parametrize(
    ("side", "direction", "stop", "limit", "reason"),
    [
        (BUY, UP, "105.00", "104.99", Reason.STOP_PRICE_ABOVE_LIMIT_PRICE),
        (BUY, UP, "100.00", "101.00", Reason.STOP_PRICE_BELOW_LAST_TRADE_PRICE),  # at the last
        (SELL, UP, "99.00", "98.00", Reason.STOP_PRICE_BELOW_LAST_TRADE_PRICE),
        (SELL, UP, "105.00", "105.01", Reason.STOP_PRICE_BELOW_LIMIT_PRICE),
        (BUY, DOWN, "100.00", "100.00", Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE),
        (BUY, UP, "105.00", "105.00", None),
    ],
)
def test_stop_placement_checks_by_side_and_direction(side, direction, stop, limit, reason):
    ex = fresh()
    r = ex.place_stop_limit(
        "s", "BTC-USD", D("1"), D(stop), D(limit), side=side, stop_direction=direction
    )
    assert (r.success, r.failure_reason) == (reason is None, reason or "")


def test_a_stop_direction_must_be_coinbases():
    with pytest.raises(ValueError, match="stop_direction"):
        fresh().place_stop_limit(
            "s", "BTC-USD", D("1"), D("95.00"), D("94.00"), stop_direction="DOWN"
        )


def test_a_stop_up_can_be_edited_and_keeps_its_direction():
    ex = fresh()
    r = ex.place_stop_limit(
        "s", "BTC-USD", D("1"), D("105.00"), D("106.00"), side=BUY, stop_direction=UP
    )
    assert ex.edit_order(r.order_id, D("1"), D("100.50"), D("99.50")).failure_reason == (
        Reason.STOP_PRICE_BELOW_LAST_TRADE_PRICE
    )
    assert ex.edit_order(r.order_id, D("1"), D("103.00"), D("102.00")).success
    assert funds(ex, "USD")[1] == D("103.618")  # 103.00 x 1.006
    (f,) = ex.advance(trade("102.50"))
    assert f.price == D("103.00")


# -------------------------------------------------------------------- journal


def test_every_order_type_is_journaled_and_restored(tmp_path: Path):
    path = tmp_path / "paper.jsonl"
    live = PaperExchange(
        balances={"USD": D("10000"), "BTC": D("2")}, fill_model="trade_size", state_path=path
    )
    live.advance(trade("100.00", size="0.4", ts=1))
    live.place_market_ioc("m1", "BTC-USD", BUY, quote_size=D("20.00"))
    live.place_market_ioc("m2", "BTC-USD", SELL, base_size=D("0.1"))
    live.place_limit_ioc("i1", "BTC-USD", SELL, D("1"), D("99.00"))  # 0.4 of 1
    live.place_limit_fok("f1", "BTC-USD", BUY, D("1"), D("101.00"))  # killed
    up = live.place_stop_limit(
        "s1", "BTC-USD", D("0.5"), D("105.00"), D("106.00"), side=BUY, stop_direction=UP
    )
    live.place_stop_limit("s2", "BTC-USD", D("0.5"), D("110.00"), D("109.00"), stop_direction=UP)
    live.close()
    ops = [line.split('"op":"')[1].split('"')[0] for line in path.read_text().splitlines()]
    assert ops == ["init", "immediate", "immediate", "immediate", "immediate", "place", "place"]
    restored = PaperExchange.restore(path)
    assert restored.state() == live.state()
    assert restored.order_terms(up.order_id) == OrderTerms(TimeInForce.GTC, UP)
    assert restored.order_terms(restored.get_order_by_client_id("m1").order_id).market
    # the restored book still knows the last print's size: an IOC fills the same
    again = restored.place_limit_ioc("i2", "BTC-USD", SELL, D("1"), D("99.00"))
    assert restored.get_order(again.order_id).filled_size == D("0.4")
    (f,) = restored.advance(trade("105.00", size="1", ts=2))
    assert (f.order_id, f.price) == (up.order_id, D("106.00"))
    restored.close()
