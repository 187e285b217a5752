"""ClassReplay: a recorded session's stops at the gap, and one student's run in Replay."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tradekit.core.events import MarketTrade
from tradekit.sim.classroom import Classroom
from tradekit.teaching.classreplay import ClassReplay

PID = "BTC-USD"
D = Decimal


def session(tmp_path: Path) -> Classroom:
    """30 students: each buys, then rests a stop at 59,400 with a limit that the gap
    (60,000 -> 59,000) skips for students 13..30 (limit above 59,000) and not for 1..12."""
    room = Classroom(30, tmp_path / "keys")
    ts = 1_000
    price = D("60000.00")

    def trade(p: Decimal, size: str = "5") -> None:
        nonlocal ts
        ts += 1_000_000_000
        room.market_state.advance(MarketTrade(PID, p, D(size), ts, str(ts)))

    trade(price)
    for i, state in enumerate(room.students.values(), 1):
        state.place_limit_buy(f"b{i}", PID, D("0.01"), D("60100.00"))  # fills next trade
    trade(price)
    for i, state in enumerate(room.students.values(), 1):
        limit = D("58900.00") if i <= 12 else D("59200.00")
        state.place_stop_limit(f"s{i}", PID, D("0.01"), D("59400.00"), limit)
        if i == 30:  # the last student moves the stop up: cancel, then place
            state.cancel_order(state.exchange.get_order_by_client_id(f"s{i}").order_id)
            state.place_stop_limit(f"s{i}b", PID, D("0.01"), D("59500.00"), D("59300.00"))
    trade(D("60050.00"))
    trade(D("59000.00"), size="50")  # the gap
    trade(D("58990.00"))
    room.recorder.close()
    return room


def test_at_the_gap_eighteen_of_thirty_stops_did_not_fill(tmp_path: Path) -> None:
    room = session(tmp_path)
    replay = ClassReplay(room.recorder.path)
    assert replay.gap == 3
    moment = replay.moments[replay.gap]
    assert len(moment.resting) == 30 and len(moment.triggered) == 30
    assert sorted(moment.filled) == [f"student-{i:02d}" for i in range(1, 13)]
    assert replay.describe(replay.gap).startswith(
        "at the gap (59,000.00), 18 of 30 stops did not fill"
    )
    # the accounts agree: the skipped stops still rest (triggered), the others are gone
    for i, state in enumerate(room.students.values(), 1):
        open_orders = state.exchange.list_open_orders(PID)
        assert (len(open_orders) == 1) == (i > 12)
    assert replay.stop_path("student-30")[1:3] == [None, D("59500.00")]


def test_one_students_run_opens_in_the_single_run_replay(tmp_path: Path) -> None:
    room = session(tmp_path)
    replay = ClassReplay(room.recorder.path)
    run = replay.open("student-30")
    # the stop placed, cancelled and placed higher: one market step, two stops reported
    moved = [r for s in run.steps for r in s.reports if type(r).__name__ == "StopMoved"]
    assert [(r.old_trigger, r.trigger) for r in moved] == [
        (None, D("59400.00")),
        (D("59400.00"), D("59500.00")),
    ]
    assert run.steps[-1].after.stop_trigger == D("59500.00")
    assert run.steps[0].after.open_size is None  # the entry rests ...
    fill = next(s for s in run.steps if "OrderFilled" in s.types)
    assert fill.after.open_size == D("0.01")  # ... and fills on the next trade
    assert "PositionOpened" in fill.types
    filled = replay.open("student-01")
    assert filled.steps[-1].after.open_size is None  # the stop sold everything
    assert filled.steps[-1].after.positions_closed == 1


def test_the_widget_scrubs(tmp_path: Path) -> None:
    room = session(tmp_path)
    replay = ClassReplay(room.recorder.path)
    box = replay.widget
    slider, words = box.children[1], box.children[2]
    assert "18 of 30 stops did not fill" in words.value
    slider.value = 0
    assert words.value.startswith("at trade 0 (60,000.00): no stop reached")
    assert len(box.children[0].data) == 31  # the price and one stop line per student
