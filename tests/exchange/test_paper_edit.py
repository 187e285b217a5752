"""PaperExchange.edit_order: new size / limit / stop, holds resized, journaled, refusals."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from helpers.paperhelp import fresh, trade

from tradekit.core.orders import OrderStatus
from tradekit.exchange.paper import EditReason, PaperExchange, Reason

RATE = D("0.006")  # the worst-case fee rate a buy holds


def test_a_buy_edit_resizes_the_hold_and_fills_at_the_new_price():
    ex = fresh()
    res = ex.place_limit_buy("b", "BTC-USD", D("1"), D("90.00"))
    assert ex.balances()["USD"].hold == D("90.00") * (1 + RATE)
    edit = ex.edit_order(res.order_id, D("2"), D("95.00"))
    assert edit.success, edit
    order = ex.get_order(res.order_id)
    assert (order.size, order.limit_price, order.status) == (D("2"), D("95.00"), OrderStatus.OPEN)
    usd = ex.balances()["USD"]
    assert usd.hold == D("190.00") * (1 + RATE)
    assert usd.total == D("10000")  # an edit moves funds between available and hold only
    assert ex.advance(trade("96.00")) == []
    (fill,) = ex.advance(trade("95.00"))
    assert (fill.price, fill.size, fill.liquidity) == (D("95.00"), D("2"), "MAKER")
    assert ex.balances()["USD"].hold == 0


def test_an_edit_to_a_marketable_price_makes_the_next_fill_taker():
    ex = fresh()
    res = ex.place_limit_buy("b", "BTC-USD", D("1"), D("90.00"))
    assert ex.edit_order(res.order_id, D("1"), D("100.00")).success
    (fill,) = ex.advance(trade("100.00"))
    assert fill.liquidity == "TAKER"


def test_a_partly_filled_buy_can_shrink_but_not_to_its_filled_size():
    ex = PaperExchange(balances={"USD": D("10000")}, fill_model="trade_size")
    ex.advance(trade("100.00"))
    res = ex.place_limit_buy("b", "BTC-USD", D("3"), D("90.00"))
    ex.advance(trade("90.00", size="1"))
    refused = ex.edit_order(res.order_id, D("1"), D("90.00"))
    assert refused.failure_reason == EditReason.CANNOT_EDIT_TO_BELOW_FILLED_SIZE
    assert ex.edit_order(res.order_id, D("2"), D("90.00")).success
    assert ex.order_hold(res.order_id) == D("90.00") * (1 + RATE)
    ex.advance(trade("90.00", size="5"))
    order = ex.get_order(res.order_id)
    assert (order.status, order.filled_size) == (OrderStatus.FILLED, D("2"))
    usd = ex.balances()["USD"]
    assert usd.hold == 0
    assert usd.available == D("10000") - D("180.00") * (1 + D("0.004"))  # maker fee


def test_a_stop_moves_its_trigger_and_keeps_its_base_hold():
    ex = fresh()
    res = ex.place_stop_limit("s", "BTC-USD", D("1"), D("90.00"), D("89.00"))
    assert ex.edit_order(res.order_id, D("1.5"), D("94.00"), D("95.00")).success
    assert ex.balances()["BTC"].hold == D("1.5")
    order = ex.get_order(res.order_id)
    assert (order.stop_price, order.limit_price, order.triggered) == (D("95.00"), D("94.00"), False)
    (fill,) = ex.advance(trade("94.50"))  # below the new stop, above the new limit
    assert (fill.price, fill.size) == (D("94.50"), D("1.5"))  # at the trigger trade


def test_a_triggered_stop_keeps_its_stop_but_may_change_its_limit():
    ex = fresh()
    res = ex.place_stop_limit("s", "BTC-USD", D("1"), D("90.00"), D("89.00"))
    assert ex.advance(trade("85.00")) == []  # triggered, gapped below the limit
    moved = ex.edit_order(res.order_id, D("1"), D("89.00"), D("88.00"))
    assert moved.failure_reason == EditReason.CANNOT_EDIT_STOP_PRICE_FOR_TRIGGERED_ORDER
    assert ex.edit_order(res.order_id, D("1"), D("85.00")).success  # stop kept: None
    assert ex.edit_order(res.order_id, D("1"), D("84.00"), D("90.00")).success  # same stop
    # 84.00 is under the last trade (85.00): the edited sell is marketable, so it takes
    # the next trade at or above its limit at that trade's price, as a taker.
    (fill,) = ex.advance(trade("84.50"))
    assert (fill.price, fill.liquidity) == (D("84.50"), "TAKER")


@pytest.mark.parametrize(
    ("size", "price", "stop", "reason"),
    [
        ("1", "90.00", None, EditReason.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST),
        ("0", "90.00", None, EditReason.INVALID_EDITED_SIZE),
        ("1", "0", None, EditReason.INVALID_EDITED_PRICE),
        ("1", "90.001", None, EditReason.PRICE_PRECISION),
        ("1.000000001", "90.00", None, EditReason.SIZE_PRECISION),
        ("1", "90.00", "95.00", EditReason.FIELD_STOPPRICE_NOT_SUPPORTED),
        ("200", "90.00", None, EditReason.INSUFFICIENT_FUND),
        ("5000", "90.00", None, Reason.BASE_SIZE_TOO_LARGE),
    ],
)
def test_buy_edit_refusals_change_nothing(size, price, stop, reason):
    ex = fresh()
    res = ex.place_limit_buy("b", "BTC-USD", D("1"), D("90.00"))
    before = ex.state()
    out = ex.edit_order(res.order_id, D(size), D(price), None if stop is None else D(stop))
    assert (out.success, out.failure_reason) == (False, reason)
    assert out.message or reason == EditReason.EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST
    assert ex.state() == before


@pytest.mark.parametrize(
    ("size", "price", "stop", "reason"),
    [
        ("1", "91.00", None, Reason.STOP_PRICE_BELOW_LIMIT_PRICE),
        ("1", "89.00", "100.00", Reason.STOP_PRICE_ABOVE_LAST_TRADE_PRICE),
        ("1", "89.00", "0", Reason.INVALID_STOP_PRICE),
        ("1", "89.00", "90.005", Reason.INVALID_STOP_PRICE_PRECISION),
        ("3", "89.00", None, EditReason.INSUFFICIENT_FUND),  # 2 BTC in the account
    ],
)
def test_stop_edit_refusals(size, price, stop, reason):
    ex = fresh()
    res = ex.place_stop_limit("s", "BTC-USD", D("1"), D("90.00"), D("89.00"))
    out = ex.edit_order(res.order_id, D(size), D(price), None if stop is None else D(stop))
    assert out.failure_reason == reason


def test_unknown_and_finished_orders_cannot_be_edited():
    ex = fresh()
    assert ex.edit_order("nope", D("1"), D("1.00")).failure_reason == EditReason.ORDER_NOT_FOUND
    res = ex.place_limit_buy("b", "BTC-USD", D("1"), D("90.00"))
    ex.cancel_order(res.order_id)
    out = ex.edit_order(res.order_id, D("2"), D("90.00"))
    assert out.failure_reason == EditReason.ONLY_OPEN_ORDERS_CAN_BE_EDITED
    with pytest.raises(TypeError):
        ex.edit_order(res.order_id, 1.0, D("90.00"))  # type: ignore[arg-type]


def test_edits_are_journaled_and_replayed(tmp_path: Path):
    path = tmp_path / "paper.jsonl"
    live = PaperExchange(balances={"USD": D("10000"), "BTC": D("2")}, state_path=path)
    live.advance(trade("100.00", ts=1))
    buy = live.place_limit_buy("b", "BTC-USD", D("1"), D("90.00"))
    stop = live.place_stop_limit("s", "BTC-USD", D("1"), D("90.00"), D("89.00"))
    assert live.edit_order(buy.order_id, D("2"), D("99.00")).success
    assert live.edit_order(stop.order_id, D("2"), D("92.00"), D("93.00")).success
    assert not live.edit_order(stop.order_id, D("2"), D("92.00"), D("93.00")).success  # no line
    lines = path.read_text().splitlines()
    assert [line.count('"op":"edit"') for line in lines[-2:]] == [1, 1]
    live.close()
    restored = PaperExchange.restore(path)
    assert restored.state() == live.state()
    # the restored exchange carries on from the edited orders
    fills = restored.advance(trade("92.50", ts=2))
    assert sorted((f.side.value, f.price, f.size) for f in fills) == [
        ("BUY", D("99.00"), D("2")),
        ("SELL", D("92.50"), D("2")),  # the stop's trigger trade, above its limit
    ]
    restored.close()


def test_a_limit_sell_rests_and_fills_at_its_limit() -> None:
    from tradekit.core.events import MarketTrade as MT
    from tradekit.exchange.paper import PaperExchange as PX

    ex = PX(balances={"USD": D("1000"), "BTC": D("1")})
    ex.advance(MT("BTC-USD", D("100.00"), D("1"), 1))
    res = ex.place_limit_sell("sell-1", "BTC-USD", D("0.5"), D("101.00"))
    assert res.success
    assert ex.balances()["BTC"].hold == D("0.5")
    assert not ex.place_limit_sell("sell-2", "BTC-USD", D("0.6"), D("101.00")).success
    assert ex.advance(MT("BTC-USD", D("100.50"), D("1"), 2)) == []
    [fill] = ex.advance(MT("BTC-USD", D("101.20"), D("1"), 3))
    assert (fill.price, fill.size, fill.liquidity) == (D("101.00"), D("0.5"), "MAKER")
    assert ex.balances()["BTC"].total == D("0.5")
