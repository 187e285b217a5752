"""Every exchange outcome in every protection state: the table `OUTCOMES` walked whole.

Each state with an order on the exchange is reached by a real sequence of events; then
each thing an exchange can do to that order is delivered. Whatever it is (even news that
contradicts what is known), the engine must not raise, must end in a state the table
allows, and must leave the position protected or say why (the order's, or a report).
"""

from decimal import Decimal as D

import pytest

from tradekit.core import (
    CancelRejected,
    CancelUnknown,
    DecisionEngine,
    EditRejected,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderFilled,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitUnknown,
    PairParams,
    ProductSpec,
    ProtectionParams,
    ProtectionState,
    Timer,
    TradingState,
    TradingStateChanged,
    TrailParams,
)
from tradekit.core.protection import OUTCOMES, Outcome

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))
SEC = 1_000_000_000
S = ProtectionState


def _engine(edit: bool = False) -> DecisionEngine:
    params = PairParams(
        BTC,
        TrailParams(D("0.02"), D("0.005"), D("0")),
        60 * SEC,
        size=D("0.5"),
        protection=ProtectionParams(),
    )
    e = DecisionEngine(params, FixedOffsetEntry(D("0.01")), "o")
    e.can_edit_stops = edit
    return e


def _trade(price: str, t: float) -> MarketTrade:
    return MarketTrade("BTC-USD", D(price), D("1"), int(t * SEC))


def reach(state: ProtectionState) -> DecisionEngine:
    """An engine whose protection is in `state`, reached by real events."""
    e = _engine(edit=state is S.EDITING)
    [buy] = e.handle(_trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "B1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), SEC))
    if state is S.PLACING:
        return e
    e.handle(OrderAccepted(stop.client_order_id, "S1", SEC))
    if state is S.RESTING:
        return e
    if state is S.TRIGGERED:
        e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.OPEN, SEC, triggered=True))
        return e
    if state is S.EXITING:
        e.handle(TradingStateChanged(TradingState.HALTED, 2 * SEC, "", D("0.01")))
        [exit_] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 2 * SEC))
        e.handle(OrderAccepted(exit_.client_order_id, "E1", 2 * SEC))
        return e
    e.handle(_trade("110.00", 2))  # a cancel (or an edit) of the stop
    if state in (S.MOVING, S.EDITING):
        return e
    assert state is S.CHECKING
    e.handle(CancelRejected(stop.client_order_id, "UNKNOWN_CANCEL_FAILURE_REASON", 2 * SEC))
    return e


def outcome_event(e: DecisionEngine, outcome: Outcome, ts: int):
    order = e.protection.order
    assert order is not None
    coid = order.client_order_id
    half = (order.remaining / 2).quantize(D("0.00000001"))
    price = order.limit_price
    return {
        Outcome.ACCEPTED: OrderAccepted(coid, order.order_id or "NEW", ts),
        Outcome.REJECTED: OrderRejected(coid, "INSUFFICIENT_FUND", ts),
        Outcome.FAILED: OrderStatusReport(coid, OrderStatus.FAILED, ts),
        Outcome.EXPIRED: OrderStatusReport(coid, OrderStatus.EXPIRED, ts),
        Outcome.CANCELLED: OrderStatusReport(coid, OrderStatus.CANCELLED, ts),
        Outcome.FILLED: OrderFilled(coid, "F-all", price, order.remaining, D("0"), ts),
        Outcome.PARTLY_FILLED: OrderFilled(coid, "F-half", price, half, D("0"), ts),
        Outcome.TRIGGERED: OrderStatusReport(coid, OrderStatus.OPEN, ts, triggered=True),
        Outcome.STILL_OPEN: OrderStatusReport(coid, OrderStatus.OPEN, ts),
        Outcome.CANCEL_REFUSED: CancelRejected(coid, "UNKNOWN_CANCEL_FAILURE_REASON", ts),
        Outcome.EDITED: OrderEdited(coid, order.size, order.stop_price, price, ts),
        Outcome.EDIT_REFUSED: EditRejected(coid, "UNKNOWN", ts),
        Outcome.REPLY_LOST: (
            OrderSubmitUnknown(coid, ts) if order.order_id is None else CancelUnknown(coid, ts)
        ),
    }[outcome]


STATES = [S.PLACING, S.RESTING, S.MOVING, S.EDITING, S.CHECKING, S.TRIGGERED, S.EXITING]


def test_the_table_covers_every_state_with_an_order_and_every_outcome():
    assert {(s, o) for s in STATES for o in Outcome} == set(OUTCOMES)


@pytest.mark.parametrize("state", STATES)
def test_each_state_is_reached(state):
    assert reach(state).protection_state is state


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("state", STATES)
def test_every_outcome_in_every_state_has_a_rule(state, outcome):
    e = reach(state)
    e.take_reports()
    ts = 3 * SEC
    e.handle(outcome_event(e, outcome, ts))  # never raises
    after = e.protection_state
    if e.position is None:  # sold: the duty is over
        assert after is S.NONE
        return
    assert after in OUTCOMES[state, outcome], (state, outcome, after)
    # protected, in flight, or a reason said; and it keeps going: time passes, the
    # engine asks or re-sends as its rules say, and never raises
    reports = e.take_reports()
    if after in (S.NONE, S.BLOCKED, S.DUST):
        assert e.protection.order is None
        assert after is S.NONE or reports, (state, outcome, after)
    for t in range(4, 8):
        e.handle(Timer(t * SEC))
        e.handle(_trade("105.00", t + 0.5))
