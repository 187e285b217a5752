from decimal import Decimal as D

import pytest
from helpers.minimarket import MiniMarket

from tradekit.core import (
    CancelOrder,
    CancelReason,
    CancelRejected,
    DecisionEngine,
    EntryEnded,
    FixedOffsetEntry,
    MarketTrade,
    OrderAccepted,
    OrderFilled,
    OrderStatus,
    OrderStatusReport,
    PairParams,
    Phase,
    PlaceLimitBuy,
    PlaceStopLimitSell,
    PositionClosed,
    ProductSpec,
    PullbackEntry,
    QueryOrder,
    StopMoved,
    Timer,
    TrailParams,
)

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))
SEC = 1_000_000_000


def engine(trail="0.02", wait_s=60, offset="0.01", **kw):
    params = PairParams(
        BTC, TrailParams(D(trail), D("0.005"), D("0")), wait_s * SEC, size=D("0.5"), **kw
    )
    return DecisionEngine(params, FixedOffsetEntry(D(offset)), "run1-BTC-USD")


def trade(price, t):
    return MarketTrade("BTC-USD", D(price), D("1"), t * SEC)


def test_flat_engine_places_a_rounded_limit_buy_with_a_deterministic_id():
    e = engine()
    cmds = e.handle(trade("100.00", 1))
    assert cmds == [PlaceLimitBuy("run1-BTC-USD-1", "BTC-USD", D("0.5"), D("99.00"), SEC)]
    assert e.phase is Phase.ENTERING
    assert e.handle(trade("101.00", 2)) == []  # one entry at a time


def test_entry_timeout_cancels_and_the_pair_goes_flat():
    e = engine(wait_s=60)
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    assert e.handle(Timer(59 * SEC)) == []
    [cancel] = e.handle(Timer(60 * SEC))
    assert cancel == CancelOrder(buy.client_order_id, "X1", CancelReason.ENTRY_TIMEOUT, 60 * SEC)
    assert e.handle(Timer(61 * SEC)) == []  # asked once
    e.handle(OrderStatusReport(buy.client_order_id, OrderStatus.CANCELLED, 61 * SEC))
    assert e.phase is Phase.FLAT
    assert any(isinstance(r, EntryEnded) for r in e.take_reports())


def test_fill_places_stop_then_ratchet_moves_it_by_cancel_then_place():
    e = engine(trail="0.02")
    [buy] = e.handle(trade("100.00", 0))  # limit 99.00
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0.1"), SEC))
    assert isinstance(stop, PlaceStopLimitSell)
    assert (stop.size, stop.stop_price, stop.limit_price) == (D("0.5"), D("97.02"), D("96.53"))
    e.handle(OrderAccepted(stop.client_order_id, "X2", SEC))
    e.take_reports()
    # 100.00 * 0.98 = 98.00 > 97.02: the stop moves
    [cancel] = e.handle(trade("100.00", 3))
    assert isinstance(cancel, CancelOrder) and cancel.reason is CancelReason.STOP_MOVE
    assert cancel.then is not None and cancel.then.stop_price == D("98.00")
    assert cancel.then.replaces == stop.client_order_id
    assert not [r for r in e.take_reports() if isinstance(r, StopMoved)]  # not yet: in flight
    # nothing more while the cancel is in flight, even when the price rises again
    assert e.handle(trade("101.00", 4)) == []
    [place] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 5 * SEC))
    assert place.client_order_id == cancel.then.client_order_id  # the journaled id
    assert place.stop_price == D("98.98")  # and the level that is true now (101 * 0.98)
    assert len(e.live_stops()) == 1
    assert not [r for r in e.take_reports() if isinstance(r, StopMoved)]
    e.handle(OrderAccepted(place.client_order_id, "X3", 6 * SEC))
    # the move is reported when the exchange has the new stop, with the old trigger
    [moved] = [r for r in e.take_reports() if isinstance(r, StopMoved)]
    assert (moved.old_trigger, moved.trigger, moved.limit) == (D("97.02"), D("98.98"), D("98.48"))
    assert moved.ts == 6 * SEC


def test_trade_at_99_50_moves_the_stop_from_97_02():
    e = engine(trail="0.02")
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1))
    e.handle(OrderAccepted(stop.client_order_id, "X2", 1))
    [cancel] = e.handle(trade("99.50", 2))  # 99.50 * 0.98 = 97.51 > 97.02
    assert cancel.then.stop_price == D("97.51")


def test_cancel_refused_because_stop_triggered_places_no_new_stop():
    e = engine()
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1))
    e.handle(OrderAccepted(stop.client_order_id, "X2", 1))
    [cancel] = e.handle(trade("105.00", 2))
    # refused: never assumed triggered; the exchange is asked and its word decides
    [ask] = e.handle(CancelRejected(stop.client_order_id, "ORDER_TRIGGERED", 3))
    assert ask == QueryOrder(stop.client_order_id, "X2", 3, protective=True)
    # no retry of the cancel, no second stop while asking; only the question, repeated
    # once its back-off has passed with no answer
    assert [type(c) for c in e.handle(trade("106.00", 4))] == [QueryOrder]
    answer = OrderStatusReport(stop.client_order_id, OrderStatus.OPEN, 4, triggered=True)
    assert e.handle(answer) == []  # it triggered: it sells, nothing else is sent
    assert e.protection_state.value == "triggered"
    cmds = e.handle(OrderFilled(stop.client_order_id, "T2", D("96.53"), D("0.5"), D("0"), 5))
    assert cmds == []
    [closed] = [r for r in e.take_reports() if isinstance(r, PositionClosed)]
    assert closed.realized_pnl == (D("96.53") - D("99.00")) * D("0.5")
    assert e.phase is Phase.FLAT
    assert cancel.then is not None


def test_a_cancel_refused_once_while_the_stop_rests_is_retried_after_the_back_off():
    """Issue 18.1: one transient refusal froze the ratchet for good (the stop stayed at
    97.02 while the price rose to 199). Now the exchange is asked; it says the stop still
    rests untriggered, so the move is sent again once the back-off (1 s) has passed."""
    e = engine()
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1))
    e.handle(OrderAccepted(stop.client_order_id, "X2", 1))
    e.handle(trade("105.00", 2))
    [ask] = e.handle(CancelRejected(stop.client_order_id, "UNKNOWN_CANCEL_FAILURE_REASON", 2))
    assert isinstance(ask, QueryOrder)
    assert e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.OPEN, 2)) == []
    assert e.protection_state.value == "resting"
    assert e.stop.client_order_id == stop.client_order_id
    ns = 1_000_000_000
    assert e.handle(MarketTrade("BTC-USD", D("150.00"), D("1"), ns // 2)) == []  # backs off
    [again] = e.handle(MarketTrade("BTC-USD", D("199.00"), D("1"), 2 + ns + 5))
    assert isinstance(again, CancelOrder) and again.client_order_id == stop.client_order_id
    assert again.then is not None and again.then.stop_price == D("195.02")
    [place] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 2 + ns + 6))
    assert place.stop_price == D("195.02")


def test_partial_entry_fills_resize_the_stop():
    e = engine()
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.2"), D("0"), 1))
    assert stop.size == D("0.2")
    e.handle(OrderAccepted(stop.client_order_id, "X2", 1))
    [cancel] = e.handle(OrderFilled(buy.client_order_id, "T2", D("99.00"), D("0.3"), D("0"), 2))
    assert cancel.reason is CancelReason.STOP_RESIZE and cancel.then.size == D("0.5")
    [place] = e.handle(OrderStatusReport(stop.client_order_id, OrderStatus.CANCELLED, 3))
    assert place.size == D("0.5") and place.stop_price == stop.stop_price


def test_stop_refused_as_above_the_market_with_on_breach_wait_retries_when_valid_again():
    from tradekit.core import OrderRejected, ProtectionParams, StopBreached

    e = engine(protection=ProtectionParams(on_breach="wait"))
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1))
    e.handle(OrderRejected(stop.client_order_id, "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE", 2))
    [breached] = [r for r in e.take_reports() if isinstance(r, StopBreached)]
    assert breached.action == "wait"  # said, not silent
    assert e.handle(trade("96.00", 3)) == []  # on_breach=wait: still below, no retry loop
    assert e.protection_state.value == "blocked"
    [again] = e.handle(trade("97.50", 4))
    assert isinstance(again, PlaceStopLimitSell) and again.stop_price == D("97.02")
    assert again.client_order_id != stop.client_order_id


def test_duplicate_and_unknown_events_are_harmless():
    e = engine()
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    fill = OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1)
    [stop] = e.handle(fill)
    assert e.handle(fill) == []
    assert e.position.filled_size == D("0.5")
    assert e.handle(OrderFilled("someone-else", "T9", D("1"), D("1"), D("0"), 1)) == []
    assert stop


def test_floats_never_enter():
    e = engine()
    with pytest.raises(TypeError):
        e.handle(MarketTrade("BTC-USD", 100.0, D("1"), 0))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        e.handle("not an event")  # type: ignore[arg-type]


def test_quote_budget_sizes_the_entry():
    params = PairParams(
        BTC, TrailParams(D("0.02"), D("0.005"), D("0")), 60 * SEC, quote_budget=D("100")
    )
    e = DecisionEngine(params, FixedOffsetEntry(D("0")), "r")
    [buy] = e.handle(trade("30000.00", 0))
    assert buy.size == D("0.00333333")


def test_pullback_rule_waits_for_the_pullback():
    params = PairParams(BTC, TrailParams(D("0.02"), D("0.005"), D("0")), 60 * SEC, size=D("1"))
    e = DecisionEngine(params, PullbackEntry(D("0.05"), 3600 * SEC), "r")
    assert e.handle(trade("100", 0)) == []
    assert e.handle(trade("96", 1)) == []
    [buy] = e.handle(trade("95", 2))
    assert buy.limit_price == D("95.00")


def test_whole_cycle_on_the_minimarket_is_deterministic_and_closes_with_pnl():
    prices = [D(p) for p in ["100", "99", "101", "103", "106", "104", "103.8", "102", "100"]]
    results = []
    for _ in range(2):
        e = engine(trail="0.02")
        m = MiniMarket(e)
        m.run(prices)
        results.append(m.commands)
    assert results[0] == results[1]
    reports = [c for c in results[0]]
    assert any(isinstance(c, PlaceStopLimitSell) for c in reports)


def test_snapshot_restore_continues_identically():
    prices = [D(p) for p in ["100", "99", "101", "103", "106", "104", "103.8", "102", "100"]]
    e1 = engine()
    m1 = MiniMarket(e1)
    m1.run(prices[:5])
    e2 = DecisionEngine.restore(e1.params, FixedOffsetEntry(D("0.01")), e1.snapshot())
    assert e2.snapshot() == e1.snapshot()


def _in_position_with_stop(e):
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 1))
    e.handle(OrderAccepted(stop.client_order_id, "X2", 1))
    return stop


def test_stop_moves_in_place_when_the_exchange_can_edit():
    from tradekit.core import EditStopOrder, OrderEdited

    e = engine()
    e.can_edit_stops = True
    stop = _in_position_with_stop(e)
    [edit] = e.handle(trade("100.00", 2))
    assert edit == EditStopOrder(
        stop.client_order_id, "X2", D("0.5"), D("98.00"), D("97.51"), 2 * SEC
    )
    assert e.handle(trade("101.00", 3)) == []  # one change at a time
    [edit2] = e.handle(OrderEdited(stop.client_order_id, D("0.5"), D("98.00"), D("97.51"), 4))
    assert edit2.stop_price == D("98.98")  # catches up with the high seen meanwhile
    e.handle(OrderEdited(stop.client_order_id, D("0.5"), D("98.98"), D("98.48"), 5))
    [live] = e.live_stops()
    assert (live.client_order_id, live.stop_price, live.limit_price) == (
        stop.client_order_id,
        D("98.98"),
        D("98.48"),
    )


def test_a_refused_edit_falls_back_to_cancel_then_place():
    from tradekit.core import EditRejected

    e = engine()
    e.can_edit_stops = True
    stop = _in_position_with_stop(e)
    e.handle(trade("100.00", 2))
    [cancel] = e.handle(EditRejected(stop.client_order_id, "ONLY_LIMIT_ORDER_EDITS_SUPPORTED", 3))
    assert isinstance(cancel, CancelOrder) and cancel.then.stop_price == D("98.00")
    assert e.orders[stop.client_order_id].stop_price == D("97.02")  # old levels kept


def test_an_entry_cancel_refused_is_not_sent_again_on_every_trade():
    e = engine(wait_s=1)
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [cancel] = e.handle(trade("100.00", 2))
    assert cancel.reason is CancelReason.ENTRY_TIMEOUT
    [ask] = e.handle(CancelRejected(buy.client_order_id, "ORDER_IS_FULLY_FILLED", 3))
    assert ask == QueryOrder(buy.client_order_id, "X1", 3)
    # settling: the exchange's word comes next (asked again, never cancelled again)
    assert [type(c) for c in e.handle(trade("100.00", 4))] == [QueryOrder]
    e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.5"), D("0"), 5))
    assert e.entry is None and e.entry_cancel_refused is None


def _grown():
    """An entry filled 0.2 (its stop resting), then the rest, 0.3: (engine, stop, the
    commands that last fill gave)."""
    e = engine()
    e.can_edit_stops = True
    [buy] = e.handle(trade("100.00", 0))
    e.handle(OrderAccepted(buy.client_order_id, "X1", 0))
    [stop] = e.handle(OrderFilled(buy.client_order_id, "T1", D("99.00"), D("0.2"), D("0"), 1))
    e.handle(OrderAccepted(stop.client_order_id, "X2", 1))
    return (
        e,
        stop,
        e.handle(OrderFilled(buy.client_order_id, "T2", D("99.00"), D("0.3"), D("0"), 2)),
    )


def test_a_grown_position_resizes_its_stop_by_edit_and_a_fill_of_the_new_size_is_booked():
    from tradekit.core import EditStopOrder, PositionClosed

    # the entry fills the rest: the stop grows in place (it keeps resting meanwhile)
    e, stop, [edit] = _grown()
    assert isinstance(edit, EditStopOrder) and edit.size == D("0.5")
    assert edit.client_order_id == stop.client_order_id
    # the edit's answer is lost, the exchange took it, and the stop fills its new size:
    # booked (the fill shows the edit took), across a restart from the snapshot too
    e = DecisionEngine.restore(e.params, FixedOffsetEntry(D("0.01")), e.snapshot())
    fill = OrderFilled(stop.client_order_id, "T3", D("96.60"), D("0.5"), D("0"), 3 * SEC)
    e.handle(fill)
    closed = [r for r in e.take_reports() if isinstance(r, PositionClosed)]
    assert closed and closed[0].size == D("0.5") and e.position is None


def test_a_fill_beyond_both_the_size_and_the_edit_in_flight_is_still_impossible():
    from tradekit.core import OverfillError

    e, stop, _ = _grown()
    with pytest.raises(OverfillError):
        e.handle(OrderFilled(stop.client_order_id, "T3", D("96.60"), D("0.6"), D("0"), 3))
