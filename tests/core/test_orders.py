from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.core.orders import (
    TRANSITIONS,
    Applied,
    InvalidOrderTransition,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    OverfillError,
    Trigger,
)

S = OrderStatus


def order(size="1"):
    return Order("c1", "BTC-USD", OrderSide.BUY, OrderType.LIMIT, D(size), D("100"))


def test_happy_path_with_partial_fills_and_average_price():
    o = order("2")
    assert o.transition(Trigger.ACCEPTED) is Applied.CHANGED
    assert o.status is S.OPEN
    applied, delta = o.fill("t1", D("0.5"), D("100"), D("0.1"))
    assert applied is Applied.CHANGED and delta.size == D("0.5")
    assert o.status is S.OPEN
    o.fill("t2", D("1.5"), D("99"), D("0.3"))
    assert o.status is S.FILLED
    assert o.filled_size == D("2")
    assert o.average_filled_price == (D("50") + D("148.5")) / D("2")
    assert o.fees == D("0.4")


def test_duplicate_fill_changes_nothing():
    o = order()
    o.transition(Trigger.ACCEPTED)
    o.fill("t1", D("0.4"), D("100"), D("0"))
    assert o.fill("t1", D("0.4"), D("100"), D("0")) == (Applied.DUPLICATE, None)
    assert o.filled_size == D("0.4")


def test_open_after_filled_is_stale():
    o = order()
    o.transition(Trigger.ACCEPTED)
    o.fill("t1", D("1"), D("100"), D("0"))
    assert o.transition(Trigger.REPORT_WORKING) is Applied.STALE
    assert o.transition(Trigger.REPORT_CANCELLED) is Applied.STALE
    assert o.status is S.FILLED


def test_fill_after_cancel_requested_and_after_cancelled():
    o = order("2")
    o.transition(Trigger.ACCEPTED)
    o.transition(Trigger.CANCEL_REQUESTED)
    assert o.status is S.PENDING_CANCEL
    o.fill("t1", D("1"), D("100"), D("0"))  # raced the cancel
    assert o.status is S.PENDING_CANCEL
    o.transition(Trigger.REPORT_CANCELLED)
    assert o.status is S.CANCELLED
    o.fill("t2", D("0.5"), D("100"), D("0"))  # executed before the cancel, reported after
    assert o.status is S.CANCELLED and o.filled_size == D("1.5")
    o.fill("t3", D("0.5"), D("100"), D("0"))
    assert o.status is S.FILLED


def test_lost_replies_are_unknown_never_failed():
    o = order()
    o.transition(Trigger.SUBMIT_LOST)
    assert o.status is S.SUBMIT_UNKNOWN and o.is_open
    o.transition(Trigger.REPORT_WORKING)  # the lookup found it
    assert o.status is S.OPEN
    o.transition(Trigger.CANCEL_REQUESTED)
    o.transition(Trigger.CANCEL_LOST)
    assert o.status is S.CANCEL_UNKNOWN and o.is_open
    o.transition(Trigger.REPORT_WORKING)  # lookup: the cancel missed, it still rests
    assert o.status is S.OPEN


def test_cancel_refused_returns_to_working():
    o = order()
    o.transition(Trigger.ACCEPTED)
    o.transition(Trigger.CANCEL_REQUESTED)
    assert o.transition(Trigger.CANCEL_REJECTED, "ORDER_TRIGGERED") is Applied.CHANGED
    assert o.status is S.OPEN and o.reason == "ORDER_TRIGGERED"


def test_illegal_transition_names_order_status_and_trigger():
    o = order()
    o.transition(Trigger.ACCEPTED)
    with pytest.raises(InvalidOrderTransition, match=r"c1.*OPEN.*rejected"):
        o.transition(Trigger.REJECTED)
    r = order()
    r.transition(Trigger.REJECTED, "INSUFFICIENT_FUND")
    with pytest.raises(InvalidOrderTransition):
        r.fill("t1", D("1"), D("1"), D("0"))


def test_overfill_is_an_error():
    o = order()
    o.transition(Trigger.ACCEPTED)
    with pytest.raises(OverfillError):
        o.fill("t1", D("2"), D("100"), D("0"))


def test_cumulative_reports_count_only_the_increase():
    o = order("2")
    o.transition(Trigger.ACCEPTED)
    _, d1 = o.fill_to(D("1"), D("100"), D("0.1"))
    assert d1.size == D("1") and d1.price == D("100")
    assert o.fill_to(D("1"), D("100"), D("0.1")) == (Applied.STALE, None)
    assert o.fill_to(D("0.5"), D("50"), D("0.05")) == (Applied.STALE, None)
    _, d2 = o.fill_to(D("2"), D("202"), D("0.3"))
    assert d2.size == D("1") and d2.price == D("102") and d2.fee == D("0.2")
    assert o.status is S.FILLED


def test_every_terminal_status_has_no_way_back_to_working():
    for (status, trig), target in TRANSITIONS.items():
        if status.is_terminal and isinstance(target, OrderStatus):
            assert target.is_terminal, (status, trig, target)


def test_round_trip_dict():
    o = order()
    o.transition(Trigger.ACCEPTED)
    o.fill("t1", D("0.3"), D("100"), D("0.01"))
    assert Order.from_dict(o.to_dict()) == o


# -- one watermark: every unit booked once ------------------------------------------------


@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=8),  # the order's trades, in units
    st.data(),
)
def test_any_mix_order_and_repetition_of_fills_and_reports_books_each_unit_once(units, data):
    """The exchange's truth is a list of trades; what arrives is any interleaving of
    per-trade fills (repeated or not) and cumulative reports (after any prefix of the
    trades, repeated, stale, out of order). Booked = exactly what was filled."""
    unit = D("0.001")
    price = D("100.5")
    trades = [(f"t{i}", u * unit) for i, u in enumerate(units)]
    total = sum((size for _, size in trades), D(0))
    order = Order("c-1", "BTC-USD", OrderSide.BUY, OrderType.LIMIT, total, price)
    order.transition(Trigger.ACCEPTED)
    messages: list[tuple[str, int]] = [("fill", i) for i in range(len(trades))]
    messages += [("cum", k) for k in range(1, len(trades) + 1)]
    messages += data.draw(st.lists(st.sampled_from(messages), max_size=10))  # repeats
    messages = data.draw(st.permutations(messages))
    booked = D(0)
    for kind, i in messages:
        if kind == "fill":
            trade_id, size = trades[i]
            _, delta = order.fill(trade_id, size, price, D("0.01"))
        else:
            filled = sum((size for _, size in trades[:i]), D(0))
            _, delta = order.fill_to(filled, filled * price, D("0.01") * i)
        if delta is not None:
            assert delta.size > 0 and delta.price > 0
            booked += delta.size
        assert booked == order.filled_size <= total
    assert booked == total
    assert order.status is OrderStatus.FILLED
    assert order.fees == D("0.01") * len(trades)
