"""The paper exchange: placement, refusals, holds, matching, fees, cancels."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from helpers.paperhelp import fresh, trade

from tradekit.core.money import ProductSpec
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.base import Exchange
from tradekit.exchange.paper import PaperExchange, Reason
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.exchange.types import ExchangeError

BUY_HOLD_RATE = D("1.006")  # size x limit x (1 + taker fee)


@pytest.fixture
def ex() -> PaperExchange:
    return fresh()


def usd(ex: PaperExchange) -> tuple[D, D]:
    b = ex.balances()["USD"]
    return b.available, b.hold


def btc(ex: PaperExchange) -> tuple[D, D]:
    b = ex.balances()["BTC"]
    return b.available, b.hold


# ------------------------------------------------------------------ products


def test_default_products_carry_coinbase_increments():
    assert set(DEFAULT_PRODUCTS) >= {"BTC-USD", "ETH-USD", "SOL-USD"}
    btc_usd = DEFAULT_PRODUCTS["BTC-USD"]
    assert btc_usd.base_increment == D("0.00000001")
    assert btc_usd.quote_increment == D("0.01")
    assert btc_usd.base_min_size == D("0.00000001")
    assert btc_usd.base_max_size == D("3400")
    assert DEFAULT_PRODUCTS["ETH-USD"].base_max_size == D("38000")
    assert DEFAULT_PRODUCTS["SOL-USD"].base_max_size == D("140000")


def test_product_lookup(ex):
    assert ex.product("ETH-USD") is DEFAULT_PRODUCTS["ETH-USD"]
    with pytest.raises(ExchangeError, match="DOGE-USD"):
        ex.product("DOGE-USD")


def test_implements_the_exchange_protocol(ex):
    exchange: Exchange = ex
    assert exchange.balances()["USD"].available == D("10000")


def test_every_product_currency_has_a_wallet():
    ex = PaperExchange()
    assert set(ex.balances()) == {"BTC", "ETH", "SOL", "USD"}
    assert all(b.available == 0 and b.hold == 0 for b in ex.balances().values())


# ----------------------------------------------------------------- placement


def test_limit_buy_is_placed_and_holds_value_plus_taker_fee(ex):
    r = ex.place_limit_buy("b1", "BTC-USD", D("1.5"), D("90.00"))
    assert r.success and r.client_order_id == "b1" and r.order_id
    order = ex.get_order(r.order_id)
    assert order is not None
    assert order.status is OrderStatus.OPEN
    assert (order.side, order.order_type) == (OrderSide.BUY, OrderType.LIMIT)
    assert (order.size, order.limit_price, order.stop_price) == (D("1.5"), D("90.00"), None)
    assert order.filled_size == 0 and not order.triggered
    assert order.created_ts == 1  # the market's time: the last trade's ts
    assert ex.get_order_by_client_id("b1") == order
    assert ex.list_open_orders() == [order]
    assert ex.list_open_orders("ETH-USD") == []
    hold = D("1.5") * D("90.00") * BUY_HOLD_RATE
    assert usd(ex) == (D("10000") - hold, hold)
    assert ex.order_hold(r.order_id) == hold


def test_stop_limit_is_placed_and_holds_its_base(ex):
    r = ex.place_stop_limit("s1", "BTC-USD", D("1.25"), D("95.00"), D("94.00"))
    assert r.success
    order = ex.get_order(r.order_id)
    assert order is not None
    assert (order.side, order.order_type) == (OrderSide.SELL, OrderType.STOP_LIMIT)
    assert (order.stop_price, order.limit_price) == (D("95.00"), D("94.00"))
    assert order.status is OrderStatus.OPEN and not order.triggered
    assert btc(ex) == (D("0.75"), D("1.25"))


def test_strings_and_ints_are_accepted_floats_refused(ex):
    assert ex.place_limit_buy("b1", "BTC-USD", "1", 90).success  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        ex.place_limit_buy("b2", "BTC-USD", D("1"), 90.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        ex.place_stop_limit("s1", "BTC-USD", 0.5, D("95.00"), D("94.00"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        PaperExchange(balances={"USD": 100.0})
    with pytest.raises(TypeError, match="float"):
        PaperExchange(maker_fee=0.001)
    with pytest.raises(ValueError, match="finite"):
        ex.place_limit_buy("b3", "BTC-USD", D("1"), D("NaN"))
    with pytest.raises(ValueError, match="client_order_id"):
        ex.place_limit_buy("", "BTC-USD", D("1"), D("90.00"))


def test_order_ids_are_deterministic():
    def ids(seed: str) -> list[str | None]:
        ex = PaperExchange(balances={"USD": D("1000")}, id_seed=seed)
        return [ex.place_limit_buy(f"c{i}", "BTC-USD", D("1"), D("10.00")).order_id for i in (1, 2)]

    first = ids("paper")
    assert first == ids("paper")
    assert len(set(first)) == 2
    assert set(first).isdisjoint(ids("other"))


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("product", "size", "limit", "reason"),
    [
        ("DOGE-USD", "1", "90.00", Reason.INVALID_PRODUCT_ID),
        ("BTC-USD", "1", "0", Reason.INVALID_LIMIT_PRICE),
        ("BTC-USD", "1", "-5.00", Reason.INVALID_LIMIT_PRICE),
        ("BTC-USD", "1", "90.001", Reason.INVALID_PRICE_PRECISION),
        ("BTC-USD", "0.000000001", "90.00", Reason.INVALID_SIZE_PRECISION),
        ("BTC-USD", "0", "90.00", Reason.BASE_SIZE_TOO_SMALL),
        ("BTC-USD", "3400.00000001", "1.00", Reason.BASE_SIZE_TOO_LARGE),
        ("BTC-USD", "200", "90.00", Reason.INSUFFICIENT_FUND),
    ],
)
def test_limit_buy_refusals(ex, product, size, limit, reason):
    r = ex.place_limit_buy("b1", product, D(size), D(limit))
    assert not r.success
    assert r.failure_reason == reason
    assert r.order_id is None and r.message
    assert ex.get_order_by_client_id("b1") is None
    assert usd(ex) == (D("10000"), 0)
    # A refusal creates nothing: the client_order_id is still free.
    assert ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00")).success


def test_a_buy_needs_room_for_the_worst_case_fee(ex):
    # 10000 / 1.006 = 9940.35...: value 9940 fits, 9941 (with its taker fee) does not.
    assert ex.place_limit_buy("b1", "BTC-USD", D("99.41"), D("100.00")).failure_reason == (
        Reason.INSUFFICIENT_FUND
    )
    assert ex.place_limit_buy("b1", "BTC-USD", D("99.40"), D("100.00")).success


@pytest.mark.parametrize(
    ("size", "stop", "limit", "reason"),
    [
        ("1", "95.00", "0", Reason.INVALID_LIMIT_PRICE),
        ("1", "95.00", "94.005", Reason.INVALID_PRICE_PRECISION),
        ("1", "0", "0.01", Reason.INVALID_STOP_PRICE),
        ("1", "95.001", "94.00", Reason.INVALID_STOP_PRICE_PRECISION),
        ("1.000000001", "95.00", "94.00", Reason.INVALID_SIZE_PRECISION),
        ("0", "95.00", "94.00", Reason.BASE_SIZE_TOO_SMALL),
        ("3401", "95.00", "94.00", Reason.BASE_SIZE_TOO_LARGE),
        ("1", "95.00", "95.01", Reason.STOP_PRICE_BELOW_LIMIT_PRICE),
        ("1", "100.00", "99.00", Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE),  # at the last
        ("1", "100.01", "99.00", Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE),
        ("2.00000001", "95.00", "94.00", Reason.INSUFFICIENT_FUND),
    ],
)
def test_stop_limit_refusals(ex, size, stop, limit, reason):
    r = ex.place_stop_limit("s1", "BTC-USD", D(size), D(stop), D(limit))
    assert (r.success, r.failure_reason) == (False, reason)
    assert ex.list_open_orders() == []
    assert btc(ex) == (D("2"), 0)


def test_stop_limit_on_unknown_product(ex):
    r = ex.place_stop_limit("s1", "XRP-USD", D("1"), D("95.00"), D("94.00"))
    assert r.failure_reason == Reason.INVALID_PRODUCT_ID


def test_stop_equal_to_limit_is_accepted(ex):
    assert ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("95.00")).success


def test_stop_is_accepted_when_no_trade_was_seen_yet():
    ex = PaperExchange(balances={"BTC": D("1")})
    assert ex.last_price("BTC-USD") is None
    assert ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00")).success


def test_quote_min_size_is_enforced_when_the_spec_has_one():
    spec = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"), None, D("1"))
    ex = PaperExchange(products=[spec], balances={"USD": D("100")})
    r = ex.place_limit_buy("b1", "BTC-USD", D("0.0099"), D("100.00"))
    assert r.failure_reason == Reason.QUOTE_SIZE_TOO_SMALL
    assert ex.place_limit_buy("b1", "BTC-USD", D("0.01"), D("100.00")).success


def test_a_second_stop_on_held_base_is_refused(ex):
    """Coinbase holds a resting sell's base: a stop is moved by cancel, then place."""
    first = ex.place_stop_limit("s1", "BTC-USD", D("2"), D("95.00"), D("94.00"))
    assert first.success
    second = ex.place_stop_limit("s2", "BTC-USD", D("2"), D("96.00"), D("95.00"))
    assert second.failure_reason == Reason.INSUFFICIENT_FUND
    assert ex.cancel_order(first.order_id).success
    assert ex.place_stop_limit("s2", "BTC-USD", D("2"), D("96.00"), D("95.00")).success


# --------------------------------------------------------------- idempotency


def test_a_repeated_client_order_id_returns_the_existing_order(ex):
    first = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    balances = ex.balances()
    again = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    assert again.success and again.order_id == first.order_id
    # Even with other parameters, even as another kind of order: nothing new.
    other = ex.place_stop_limit("b1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    assert other.success and other.order_id == first.order_id
    assert len(ex.list_orders()) == 1
    assert ex.balances() == balances


def test_a_repeated_client_order_id_wins_over_validation(ex):
    first = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    again = ex.place_limit_buy("b1", "NOPE-USD", D("999999"), D("0.001"))
    assert again.success and again.order_id == first.order_id


def test_a_repeated_client_order_id_of_a_finished_order_returns_it(ex):
    first = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    ex.cancel_order(first.order_id)
    again = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    assert again.order_id == first.order_id
    assert ex.list_open_orders() == []


# ------------------------------------------------------------- limit buys


def test_buy_does_not_fill_above_its_limit(ex):
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    assert ex.advance(trade("90.01")) == []
    assert ex.get_order_by_client_id("b1").filled_size == 0


def test_buy_fills_on_touch_at_its_limit_as_maker(ex):
    r = ex.place_limit_buy("b1", "BTC-USD", D("1.5"), D("90.00"))
    fills = ex.advance(trade("90.00", size="0.1", ts=7))
    assert len(fills) == 1
    f = fills[0]
    assert (f.order_id, f.client_order_id, f.product_id) == (r.order_id, "b1", "BTC-USD")
    assert (f.side, f.price, f.size, f.ts, f.liquidity) == (
        OrderSide.BUY,
        D("90.00"),
        D("1.5"),  # fill_model "full": the whole order, whatever the trade's size
        7,
        "MAKER",
    )
    assert f.commission == D("135.00") * D("0.004")
    order = ex.get_order(r.order_id)
    assert order.status is OrderStatus.FILLED
    assert (order.filled_size, order.filled_value, order.total_fees) == (
        D("1.5"),
        D("135.00"),
        D("0.54"),
    )
    assert usd(ex) == (D("10000") - D("135.00") - D("0.54"), 0)
    assert btc(ex) == (D("3.5"), 0)
    assert ex.list_fills() == fills == ex.list_fills(order_id=r.order_id)
    assert ex.list_fills(product_id="ETH-USD") == []
    assert ex.list_open_orders() == []


def test_buy_fills_at_its_limit_when_the_trade_prints_below(ex):
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    (f,) = ex.advance(trade("85.00"))
    assert f.price == D("90.00")  # never price improvement


def test_a_buy_marketable_on_arrival_fills_as_taker(ex):
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("100.00"))  # last trade is 100.00
    assert ex.advance(trade("100.50")) == []  # ran away: still waiting, still a taker
    (f,) = ex.advance(trade("99.00"))
    assert (f.price, f.liquidity, f.commission) == (D("100.00"), "TAKER", D("0.600"))
    assert usd(ex) == (D("10000") - D("100.600"), 0)


def test_partial_fills_with_the_trade_size_model():
    ex = PaperExchange(balances={"USD": D("10000")}, fill_model="trade_size")
    assert ex.fill_model == "trade_size"
    ex.advance(trade("100.00"))
    r = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    (f1,) = ex.advance(trade("90.00", size="0.3"))
    assert f1.size == D("0.3")
    order = ex.get_order(r.order_id)
    assert order.status is OrderStatus.OPEN and order.filled_size == D("0.3")
    assert ex.order_hold(r.order_id) == D("0.7") * D("90.00") * BUY_HOLD_RATE
    assert ex.advance(trade("90.00", size="0")) == []  # a zero-size print fills nothing
    (f2,) = ex.advance(trade("89.00", size="5"))
    assert f2.size == D("0.7")
    assert f1.trade_id != f2.trade_id
    order = ex.get_order(r.order_id)
    assert order.status is OrderStatus.FILLED
    assert order.total_fees == D("90.00") * D("0.004")
    assert usd(ex) == (D("10000") - D("90.00") - D("0.36"), 0)
    assert ex.balances()["BTC"].available == 1


def test_trade_size_budget_is_shared_by_price_then_time_priority():
    ex = PaperExchange(balances={"USD": D("10000")}, fill_model="trade_size")
    ex.advance(trade("100.00"))
    a = ex.place_limit_buy("a", "BTC-USD", D("1"), D("90.00"))
    b = ex.place_limit_buy("b", "BTC-USD", D("1"), D("91.00"))
    c = ex.place_limit_buy("c", "BTC-USD", D("1"), D("91.00"))
    fills = ex.advance(trade("89.00", size="1.5"))
    assert [(f.order_id, f.size) for f in fills] == [
        (b.order_id, D("1")),
        (c.order_id, D("0.5")),
    ]
    fills = ex.advance(trade("90.00", size="10"))
    assert [(f.order_id, f.size) for f in fills] == [
        (c.order_id, D("0.5")),
        (a.order_id, D("1")),
    ]


# ------------------------------------------------------------------- stops


def test_stop_does_not_trigger_above_its_stop(ex):
    r = ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    assert ex.advance(trade("95.01")) == []
    assert not ex.get_order(r.order_id).triggered


def test_stop_triggers_on_touch_and_fills_at_the_trade_price_as_taker(ex):
    r = ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    (f,) = ex.advance(trade("95.00", ts=5))
    assert (f.order_id, f.side, f.price, f.size, f.liquidity) == (
        r.order_id,
        OrderSide.SELL,
        D("95.00"),  # the trigger trade's price: the book paid 95.00, not the limit
        D("1"),
        "TAKER",
    )
    assert f.commission == D("0.570")  # 95.00 x 1 x 0.006: the fee follows the price
    order = ex.get_order(r.order_id)
    assert order.triggered and order.status is OrderStatus.FILLED
    assert (order.filled_value, order.total_fees) == (D("95.00"), D("0.570"))
    assert btc(ex) == (D("1"), 0)
    assert usd(ex) == (D("10095.00") - D("0.570"), 0)


def test_stop_fills_on_the_trigger_trade_between_stop_and_limit(ex):
    ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    (f,) = ex.advance(trade("94.00"))  # at the limit: still fills
    assert f.price == D("94.00")


def test_gap_through_the_limit_leaves_the_stop_triggered_and_unfilled(ex):
    r = ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    assert ex.advance(trade("93.99")) == []
    order = ex.get_order(r.order_id)
    assert order.status is OrderStatus.OPEN and order.triggered and order.filled_size == 0
    assert ex.list_open_orders() == [order]
    assert btc(ex) == (D("1"), D("1"))  # still held
    assert ex.advance(trade("90.00")) == []
    assert ex.advance(trade("93.99")) == []
    # The price comes back up to the limit: the resting sell fills, as a maker.
    (f,) = ex.advance(trade("94.00"))
    assert (f.price, f.liquidity, f.commission) == (D("94.00"), "MAKER", D("0.376"))
    assert ex.get_order(r.order_id).status is OrderStatus.FILLED
    assert usd(ex) == (D("10000") + D("94.00") - D("0.376"), 0)


def test_triggered_stop_fills_far_above_its_limit_at_its_limit(ex):
    ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    ex.advance(trade("50.00"))
    (f,) = ex.advance(trade("120.00"))
    assert f.price == D("94.00")


def test_stop_partial_fills_with_the_trade_size_model():
    ex = PaperExchange(balances={"BTC": D("1")}, fill_model="trade_size")
    ex.advance(trade("100.00"))
    r = ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    (f1,) = ex.advance(trade("94.50", size="0.25"))
    assert (f1.size, f1.liquidity) == (D("0.25"), "TAKER")
    (f2,) = ex.advance(trade("96.00", size="0.5"))  # resting now: maker
    assert (f2.size, f2.liquidity) == (D("0.5"), "MAKER")
    assert ex.order_hold(r.order_id) == D("0.25")
    assert ex.balances()["BTC"].hold == D("0.25")
    ex.advance(trade("94.00", size="1"))
    assert ex.get_order(r.order_id).status is OrderStatus.FILLED
    assert ex.balances()["BTC"].hold == 0


def test_buy_and_stop_on_one_trade(ex):
    b = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("96.00"))
    s = ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    fills = ex.advance(trade("95.00"))
    assert [f.order_id for f in fills] == [b.order_id, s.order_id]


def test_round_trip_fees_and_balances():
    ex = PaperExchange(balances={"USD": D("1000")})
    ex.advance(trade("50000.00"))
    ex.place_limit_buy("b1", "BTC-USD", D("0.01"), D("49000.00"))
    assert usd(ex) == (D("1000") - D("492.94"), D("492.94"))
    (buy,) = ex.advance(trade("48999.99"))
    assert (buy.commission, buy.liquidity) == (D("1.96"), "MAKER")
    assert usd(ex) == (D("1000") - D("490.00") - D("1.96"), 0)
    assert btc(ex) == (D("0.01"), 0)
    ex.place_stop_limit("s1", "BTC-USD", D("0.01"), D("48500.00"), D("48400.00"))
    (sell,) = ex.advance(trade("48450.00"))  # the trigger trade, above the limit
    assert (sell.price, sell.commission, sell.liquidity) == (D("48450.00"), D("2.907"), "TAKER")
    assert usd(ex) == (D("1000") - D("491.96") + D("484.50") - D("2.907"), 0)
    assert btc(ex) == (0, 0)


def test_fees_are_exact(ex):
    ex.place_limit_buy("b1", "BTC-USD", D("0.00000001"), D("99.99"))
    (f,) = ex.advance(trade("99.99"))
    assert f.commission == D("0.0000000039996")


# ------------------------------------------------------------------ cancels


def test_cancel_releases_the_hold(ex):
    r = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    res = ex.cancel_order(r.order_id)
    assert (res.order_id, res.success, res.failure_reason) == (r.order_id, True, "")
    assert ex.get_order(r.order_id).status is OrderStatus.CANCELLED
    assert usd(ex) == (D("10000"), 0)
    assert ex.list_open_orders() == []
    assert ex.advance(trade("80.00")) == []  # a cancelled order never fills


def test_cancel_failures(ex):
    assert ex.cancel_order("nope").failure_reason == Reason.UNKNOWN_CANCEL_ORDER
    r = ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    ex.cancel_order(r.order_id)
    again = ex.cancel_order(r.order_id)
    assert (again.success, again.failure_reason) == (False, Reason.DUPLICATE_CANCEL_REQUEST)
    f = ex.place_limit_buy("b2", "BTC-USD", D("1"), D("90.00"))
    ex.advance(trade("90.00"))
    res = ex.cancel_order(f.order_id)
    assert (res.success, res.failure_reason) == (False, Reason.ORDER_IS_FULLY_FILLED)


def test_a_triggered_stop_can_be_cancelled(ex):
    r = ex.place_stop_limit("s1", "BTC-USD", D("1"), D("95.00"), D("94.00"))
    ex.advance(trade("90.00"))
    assert ex.cancel_order(r.order_id).success
    order = ex.get_order(r.order_id)
    assert order.status is OrderStatus.CANCELLED and order.triggered
    assert btc(ex) == (D("2"), 0)
    assert ex.advance(trade("99.00")) == []


def test_cancelling_a_partly_filled_buy_releases_the_rest():
    ex = PaperExchange(balances={"USD": D("1000")}, fill_model="trade_size")
    ex.advance(trade("100.00"))
    r = ex.place_limit_buy("b1", "BTC-USD", D("2"), D("90.00"))
    ex.advance(trade("90.00", size="0.5"))
    assert ex.cancel_order(r.order_id).success
    order = ex.get_order(r.order_id)
    assert order.status is OrderStatus.CANCELLED and order.filled_size == D("0.5")
    assert usd(ex) == (D("1000") - D("45.00") - D("0.18"), 0)


# ------------------------------------------------------------------- market


def test_market_seq_and_last_price(ex):
    assert ex.market_seq == 1
    ex.advance(trade("101.00", ts=2))
    ex.advance(trade("2000.00", product="ETH-USD", ts=3))
    assert ex.market_seq == 3
    assert ex.last_price("BTC-USD") == D("101.00")
    assert ex.last_price("ETH-USD") == D("2000.00")
    assert ex.last_price("SOL-USD") is None
    assert ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00")).success
    assert ex.get_order_by_client_id("b1").created_ts == 3


def test_advance_refuses_an_unknown_product(ex):
    with pytest.raises(ExchangeError, match="DOGE-USD"):
        ex.advance(trade("1.00", product="DOGE-USD"))
    assert ex.market_seq == 1


def test_orders_only_see_their_own_product(ex):
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("90.00"))
    assert ex.advance(trade("1.00", product="ETH-USD")) == []


def test_clock_sets_created_ts():
    ex = PaperExchange(balances={"USD": D("100")}, clock=lambda: 42)
    ex.place_limit_buy("b1", "BTC-USD", D("1"), D("10.00"))
    assert ex.get_order_by_client_id("b1").created_ts == 42


def test_constructor_checks():
    with pytest.raises(ValueError, match="fill_model"):
        PaperExchange(fill_model="half")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maker_fee"):
        PaperExchange(maker_fee=D("1"))
    with pytest.raises(ValueError, match="negative"):
        PaperExchange(balances={"USD": D("-1")})
    with pytest.raises(ValueError, match="twice"):
        PaperExchange(products=[DEFAULT_PRODUCTS["BTC-USD"]] * 2)
    with pytest.raises(ValueError, match="at least one"):
        PaperExchange(products=[])
