from decimal import Decimal as D

import pytest

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
