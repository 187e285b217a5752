"""Scenario tests of the sync ExecutionEngine on the paper exchange, with hand-computed
answers.

Every scenario trades BTC-USD (quote increment 0.01), size 0.1, entry rule
FixedOffsetEntry(0.01): on a flat tick at P the engine bids round_down(P * 0.99, 0.01).
Paper exchange: maker fee 0.4 %, taker fee 0.6 %; a resting buy fills at its limit when a
trade prints at or below it; a stop triggers when a trade prints at or below its trigger
and fills at its limit (TAKER on the trigger trade when P >= limit, MAKER later).
Trade i has ts = i seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradekit.core.decision import DecisionEngine, PairParams
from tradekit.core.entry import FixedOffsetEntry
from tradekit.core.events import MarketTrade, OrderAccepted, OrderFilled, OrderStatusReport
from tradekit.core.orders import OrderStatus, OrderType
from tradekit.core.position import TrailParams
from tradekit.core.reports import EntryEnded, ExitPlaced, StopRejected, StopTriggered
from tradekit.engine.execution import ExecutionEngine
from tradekit.exchange.paper import PaperExchange
from tradekit.exchange.products import DEFAULT_PRODUCTS
from tradekit.store.sqlite import Store

SEC = 10**9
PID = "BTC-USD"
BTC = DEFAULT_PRODUCTS[PID]


def path(*points: str | tuple[str, str]) -> list[MarketTrade]:
    """Trades from prices (size 1) or (price, size) pairs; trade i at i seconds."""
    out = []
    for i, p in enumerate(points):
        price, size = p if isinstance(p, tuple) else (p, "1")
        out.append(MarketTrade(PID, D(price), D(size), i * SEC))
    return out


def new_exchange(**kw: object) -> PaperExchange:
    return PaperExchange(balances={"USD": D("100000")}, **kw)


def new_engine(
    trades: Sequence[MarketTrade],
    exchange: PaperExchange,
    store: Store,
    *,
    trail: str = "0.02",
    buffer: str = "0.005",
    min_ratchet: str = "0",
    wait_s: int = 1000,
) -> ExecutionEngine:
    params = PairParams(
        BTC, TrailParams(D(trail), D(buffer), D(min_ratchet)), wait_s * SEC, size=D("0.1")
    )
    decision = DecisionEngine(params, FixedOffsetEntry(D("0.01")), "t")

    def ticks(start: int) -> Iterator[MarketTrade]:
        return iter(trades[start:])

    return ExecutionEngine(decision, exchange, store, ticks)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "s.sqlite")
    yield s
    s.close()


def reports(store: Store) -> list[object]:
    return [e.obj for e in store.journal_objects(kinds="report")]


def open_stops(exchange: PaperExchange) -> list:
    return [o for o in exchange.list_open_orders(PID) if o.order_type is OrderType.STOP_LIMIT]


# -- 1. entry, ratchet, exit -------------------------------------------------------------

# trail 2 %, buffer 0.5 %, min_ratchet 0.1 %
RATCHET_PATH = path(
    "100000",  # 0: flat -> bid 100000 * 0.99 = 99000.00
    "99500",  # 1: above the bid: nothing
    "99000",  # 2: at the bid: entry fills 0.1 @ 99000.00 (maker)
    "100000",  # 3: candidate 98000.00 > 97020 * 1.001 = 97117.02: stop moves
    "100050",  # 4: new high, candidate 98049.00 <= 98000 * 1.001 = 98098.00: no move
    "101000",  # 5: candidate 98980.00 > 98098.00: stop moves
    "100500",  # 6: below the high: nothing
    "98980",  # 7: at the trigger: the stop fills at its limit 98485.10 (taker)
)


def test_entry_fill_stop_ratchet_and_exit_at_the_stop(store):
    ex = new_exchange()
    eng = new_engine(RATCHET_PATH, ex, store, min_ratchet="0.001")

    assert eng.run(ticks=2) == 2
    entry = ex.get_order_by_client_id("t-1")
    assert entry is not None and entry.limit_price == D("99000.00")  # 100000 * 0.99
    assert entry.status is OrderStatus.OPEN and entry.filled_size == 0

    assert eng.run(ticks=1) == 1  # tick 2 at 99000: the entry fills
    [fill] = store.fills(PID, "t-1")
    assert (fill["price"], fill["size"]) == (D("99000.00"), D("0.1"))
    assert fill["fee"] == D("39.6")  # 99000 * 0.1 * 0.004 (maker)
    # first stop: trigger round_down(99000 * 0.98) = 97020.00,
    # limit round_down(97020 * 0.995 = 96534.9) = 96534.90
    [stop] = open_stops(ex)
    assert (stop.client_order_id, stop.size) == ("t-2", D("0.1"))
    assert (stop.stop_price, stop.limit_price) == (D("97020.00"), D("96534.90"))

    # Ticks 3 and 4. run(ticks=n) returns right after the n-th trade, before the outcomes
    # of that trade's commands are handled, so the checks are made after an idle tick.
    assert eng.run(ticks=2) == 2
    [stop] = open_stops(ex)
    # tick 3: trigger round_down(100000 * 0.98) = 98000.00, limit 98000 * 0.995 = 97510.00
    # tick 4 (100050) did not move it: 98049.00 <= 98098.00
    assert (stop.client_order_id, stop.stop_price, stop.limit_price) == (
        "t-3",
        D("98000.00"),
        D("97510.00"),
    )
    assert ex.get_order_by_client_id("t-2").status is OrderStatus.CANCELLED
    assert eng.summary()["position"]["highest"] == D("100050")  # the high still follows
    assert eng.summary()["position"]["stop_trigger"] == D("98000.00")

    assert eng.run(ticks=2) == 2  # ticks 5 (101000) and 6 (100500)
    [stop] = open_stops(ex)
    # trigger round_down(101000 * 0.98) = 98980.00, limit round_down(98980 * 0.995 =
    # 98485.1) = 98485.10
    assert (stop.client_order_id, stop.stop_price, stop.limit_price) == (
        "t-4",
        D("98980.00"),
        D("98485.10"),
    )
    assert [o.client_order_id for o in ex.list_orders(PID)] == ["t-1", "t-2", "t-3", "t-4"]

    history = [
        (h["ts"], h["trigger"], h["limit_price"], h["price"]) for h in store.stop_history(PID)
    ]
    assert history == [
        (2 * SEC, D("97020.00"), D("96534.90"), D("99000")),  # from the entry fill
        (3 * SEC, D("98000.00"), D("97510.00"), D("100000")),
        (5 * SEC, D("98980.00"), D("98485.10"), D("101000")),
    ]
    assert [h["old_trigger"] for h in store.stop_history(PID)] == [
        None,
        D("97020.00"),
        D("98000.00"),
    ]

    # tick 7 at 98980 = the trigger: its fill is the one event step() handles first
    res = eng.step()
    assert isinstance(res.event, OrderFilled)
    assert res.event.client_order_id == "t-4"
    # the paper exchange fills a stop at its trigger trade's price when that is at or
    # above its limit (taker): 98980.00, not the limit 98485.10
    assert (res.event.price, res.event.size) == (D("98980.00"), D("0.1"))
    assert res.event.fee == D("59.388")  # 98980.00 * 0.1 * 0.006 (taker)

    # proceeds 9898.000 - cost 9900.0 - fees (39.6 + 59.388) = -100.988
    [closed] = store.closed_positions(PID)
    assert closed["size"] == D("0.1")
    assert closed["entry_price"] == D("99000")
    assert closed["exit_price"] == D("98980")
    assert closed["fees"] == D("98.988")
    assert closed["realized_pnl"] == D("-100.988")
    assert store.total_realized_pnl(PID) == D("-100.988")
    summary = eng.summary()
    assert summary["phase"] == "flat"
    assert summary["position"] is None and summary["live_stops"] == 0
    assert ex.list_open_orders(PID) == []
    # the exchange agrees: 100000 - 9900 - 39.6 + 9898.00 - 59.388
    bal = ex.balances()
    assert bal["USD"].available == D("99899.012") and bal["USD"].hold == 0
    assert bal["BTC"].available == 0 and bal["BTC"].hold == 0


# -- 2. entry timeout --------------------------------------------------------------------


def test_entry_times_out_after_max_entry_wait(store):
    # entry placed at ts 0; max wait 5 s: the tick at ts 5 s (>= 5 s) cancels it
    trades = path("100000", "100000", "100000", "100000", "100000", "100000")
    ex = new_exchange()
    eng = new_engine(trades, ex, store, wait_s=5)

    assert eng.run(ticks=5) == 5  # ts 0 .. 4 s: still working
    entry = ex.get_order_by_client_id("t-1")
    assert entry.status is OrderStatus.OPEN
    # hold = 0.1 * 99000 * (1 + 0.006) = 9959.4
    assert ex.balances()["USD"].hold == D("9959.4")
    assert ex.balances()["USD"].available == D("90040.6")
    assert eng.summary()["phase"] == "entering"

    eng.run()  # tick 5 at ts 5 s
    assert ex.get_order_by_client_id("t-1").status is OrderStatus.CANCELLED
    ended = [r for r in reports(store) if isinstance(r, EntryEnded)]
    assert ended == [EntryEnded(PID, "t-1", "CANCELLED", D("0"), 5 * SEC)]
    usd = ex.balances()["USD"]
    assert (usd.available, usd.hold) == (D("100000"), D("0"))
    assert eng.summary()["phase"] == "flat"
    assert store.closed_positions(PID) == [] and store.fills(PID) == []


# -- 3. partial fills resize the stop -----------------------------------------------------


def test_partial_entry_fills_resize_the_stop(store):
    trades = path(
        "100000",  # 0: bid 99000.00 for 0.1
        ("99000", "0.04"),  # 1: fills 0.04 of it
        ("99000", "0.06"),  # 2: fills the other 0.06
    )
    ex = new_exchange(fill_model="trade_size")
    eng = new_engine(trades, ex, store)

    assert eng.run(ticks=2) == 2
    assert ex.get_order_by_client_id("t-1").filled_size == D("0.04")
    [stop] = open_stops(ex)
    # round_down(99000 * 0.98) = 97020.00; round_down(97020 * 0.995) = 96534.90
    assert (stop.client_order_id, stop.size) == ("t-2", D("0.04"))
    assert (stop.stop_price, stop.limit_price) == (D("97020.00"), D("96534.90"))
    assert eng.summary()["position"]["open_size"] == D("0.04")

    eng.run()
    assert ex.get_order_by_client_id("t-1").status is OrderStatus.FILLED
    assert ex.get_order_by_client_id("t-2").status is OrderStatus.CANCELLED
    [stop] = open_stops(ex)  # exactly one live stop, for the whole size, same levels
    assert (stop.client_order_id, stop.size) == ("t-3", D("0.1"))
    assert (stop.stop_price, stop.limit_price) == (D("97020.00"), D("96534.90"))
    assert ex.balances()["BTC"].hold == D("0.1")
    summary = eng.summary()
    assert summary["live_stops"] == 1
    assert summary["position"]["open_size"] == D("0.1")
    # the trigger never moved: one stop history row (a resize is not a move)
    assert len(store.stop_history(PID)) == 1
    # the cancel came first, then the placement: journaled in that order
    cmds = [(e.type, e.obj.client_order_id) for e in store.journal_objects(kinds="command")]
    assert cmds[-2:] == [("CancelOrder", "t-2"), ("PlaceStopLimitSell", "t-3")]
    assert store.journal_objects(kinds="command")[-2].obj.reason == "stop_resize"


# -- 4. gap down through a stop-limit ----------------------------------------------------

# trail 2 %, buffer 0.5 %: entry 99000.00, stop 97020.00 / 96534.90
GAP_PATH = path(
    "100000",  # 0: bid 99000.00
    "99000",  # 1: entry fills
    "96000",  # 2: through the trigger AND below the limit: triggered, unfilled
    "96500",  # 3: still below the limit 96534.90: still unfilled
    "96534.90",  # 4: back at the limit: the resting sell fills at 96534.90 (maker)
)


def test_gap_down_leaves_the_stop_triggered_unfilled_then_it_fills_at_its_limit(store):
    ex = new_exchange()
    eng = new_engine(GAP_PATH, ex, store)

    assert eng.run(ticks=3) == 3  # ticks 0..2: the gap to 96000
    stop = ex.get_order_by_client_id("t-2")
    assert stop.status is OrderStatus.OPEN and stop.triggered is True  # the exchange's word
    assert stop.filled_size == 0
    # The gap tick produced no fill; the engine asked the exchange about the stop, and
    # handled that answer before the gap trade itself (the trigger happened at that print).
    [news] = [
        e.obj
        for e in store.journal_objects(kinds="event")
        if isinstance(e.obj, OrderStatusReport) and e.obj.triggered
    ]
    assert (news.client_order_id, news.status, news.ts) == ("t-2", OrderStatus.OPEN, 2 * SEC)
    triggered = [r for r in reports(store) if isinstance(r, StopTriggered)]
    assert triggered == [StopTriggered(PID, "t-2", D("0"), D("0.1"), 2 * SEC)]
    assert eng.decision.orders["t-2"].triggered is True
    summary = eng.summary()
    assert summary["phase"] == "in_position"
    assert summary["position"]["open_size"] == D("0.1")  # still open: the user must know
    assert summary["live_stops"] == 1

    assert eng.run(ticks=1) == 1  # tick 3 at 96500: still below the limit 96534.90
    [stop] = ex.list_open_orders(PID)
    assert stop.client_order_id == "t-2" and stop.filled_size == 0
    # no second stop: the engine leaves the executing stop alone
    assert [o.client_order_id for o in ex.list_orders(PID)] == ["t-1", "t-2"]
    assert ex.balances()["BTC"].hold == D("0.1")
    assert eng.summary()["position"]["open_size"] == D("0.1")

    res = eng.step()  # tick 4 at 96534.90: the fill comes first
    assert isinstance(res.event, OrderFilled) and res.event.client_order_id == "t-2"
    assert res.event.price == D("96534.90")
    assert res.event.fee == D("38.613960")  # 96534.90 * 0.1 * 0.004 (maker: it rested)
    # proceeds 9653.490 - cost 9900.0 - fees (39.6 + 38.61396) = -324.72396
    [closed] = store.closed_positions(PID)
    assert closed["realized_pnl"] == D("-324.72396")
    assert closed["exit_price"] == D("96534.9")
    assert eng.summary()["phase"] == "flat"
    assert ex.list_open_orders(PID) == []
    triggered = [r for r in reports(store) if isinstance(r, StopTriggered)]
    assert len(triggered) == 1  # stated once


def test_gap_down_during_a_partial_entry_exits_all_that_is_held(store):
    """The print that triggers the stop also fills more of the entry, under the stop's
    limit: the triggered stop (0.04) cannot cover the 0.05 now held and is not filling,
    so it makes way for one exit of everything (before, 0.01 stayed uncovered until the
    gap-through rule ran)."""
    trades = path(
        "100000",  # 0: bid 99000.00 for 0.1
        ("99000", "0.04"),  # 1: 0.04 filled; stop 0.04 @ 97020.00 / 96534.90
        ("96000", "0.01"),  # 2: 0.01 more filled; the stop triggers, unfilled (gap)
    )
    ex = new_exchange(fill_model="trade_size")
    eng = new_engine(trades, ex, store)
    eng.run()
    stop = ex.get_order_by_client_id("t-2")
    assert stop.triggered is True and stop.status is OrderStatus.CANCELLED
    assert ex.get_order_by_client_id("t-1").status is OrderStatus.CANCELLED  # rule 5
    [exit_] = [r for r in reports(store) if isinstance(r, ExitPlaced)]
    assert exit_.reason == "bought_after_trigger" and exit_.size == D("0.05")
    assert exit_.limit_price == D("95520.00")  # 96000 x (1 - 0.005)
    assert not [r for r in reports(store) if isinstance(r, StopRejected)]


# -- 5. step() and run(ticks=n) ----------------------------------------------------------

STEP_PATH = path(
    "100000",  # 0: entry placed
    "99000",  # 1: entry fills, first stop
    "100000",  # 2: the stop moves (cancel, then place)
)


def test_step_processes_exactly_one_event(store):
    ex = new_exchange()
    eng = new_engine(STEP_PATH, ex, store)
    seen = []
    while (res := eng.step()) is not None:
        coid = getattr(res.event, "client_order_id", None)
        seen.append((type(res.event).__name__, coid, [type(c).__name__ for c in res.commands]))
    assert seen == [
        ("MarketTrade", None, ["PlaceLimitBuy"]),  # tick 0
        ("OrderAccepted", "t-1", []),
        ("OrderFilled", "t-1", ["PlaceStopLimitSell"]),  # tick 1's fill, before the tick
        ("OrderAccepted", "t-2", []),
        ("MarketTrade", None, []),  # tick 1 itself
        ("MarketTrade", None, ["CancelOrder"]),  # tick 2: ratchet
        ("OrderStatusReport", "t-2", ["PlaceStopLimitSell"]),  # CANCELLED -> place
        ("OrderAccepted", "t-3", []),
    ]
    assert eng.step() is None and eng.finished
    assert eng.cursor == 3


def test_step_results_carry_the_outcomes(store):
    eng = new_engine(STEP_PATH, new_exchange(), store)
    res = eng.step()
    assert isinstance(res.event, MarketTrade) and res.event.price == D("100000")
    [outcome] = res.outcomes
    assert isinstance(outcome, OrderAccepted) and outcome.client_order_id == "t-1"
    assert eng.cursor == 1
    res = eng.step()
    assert res.event is outcome and res.commands == [] and eng.cursor == 1
    for _ in range(4):
        eng.step()  # fill, accepted, tick 1, tick 2
    res = eng.step()
    assert isinstance(res.event, OrderStatusReport)
    assert res.event.status is OrderStatus.CANCELLED


def test_run_ticks_stops_after_n_market_trades(store):
    ex = new_exchange()
    eng = new_engine(STEP_PATH, ex, store)
    assert eng.run(ticks=1) == 1
    assert eng.cursor == 1 and ex.market_seq == 1
    assert eng.run(ticks=1) == 1
    assert eng.cursor == 2 and ex.market_seq == 2
    assert eng.run(ticks=10) == 1  # only one left
    assert eng.cursor == 3 and eng.finished
    assert eng.run() == 0
    assert eng.step() is None


# -- 6. idle ticks write nothing ---------------------------------------------------------


def test_idle_ticks_write_no_journal_rows(store):
    # the entry rests at 99000.00; 1000 ticks at 100000 can neither fill it nor time it out
    trades = path(*["100000"] * 1002)
    ex = new_exchange()
    eng = new_engine(trades, ex, store, wait_s=10**6)
    assert eng.run(ticks=2) == 2  # tick 0 (entry placed), its acceptance, tick 1
    rows = store.journal()
    assert [(r["kind"], r["type"]) for r in rows] == [
        ("event", "MarketTrade"),
        ("command", "PlaceLimitBuy"),
        ("report", "EntryPlaced"),
        ("event", "OrderAccepted"),
    ]
    assert eng.run() == 1000
    assert store.journal() == rows
    assert eng.cursor == 1002 and ex.market_seq == 1002
    assert store.load_engine_state(PID)[1] == 1  # the saved cursor did not move either
    assert ex.get_order_by_client_id("t-1").status is OrderStatus.OPEN


# -- 7. restart in-process ---------------------------------------------------------------

# two positions: the RATCHET_PATH cycle, then one more entry, a move and an exit
RESTART_PATH = path(
    "100000",  # 0: bid 99000.00
    "99500",  # 1
    "99000",  # 2: fill; stop 97020.00 / 96534.90
    "100000",  # 3: stop 98000.00 / 97510.00
    "100050",  # 4: no move (min_ratchet)
    "101000",  # 5: stop 98980.00 / 98485.10
    "100500",  # 6
    "98980",  # 7: exit at 98980.00, the trigger trade (taker); flat -> bid
    # round_down(98980 * 0.99) = 97990.20
    "98500",  # 8
    "97990.20",  # 9: fill at 97990.20; stop round_down(96030.396) = 96030.39 / 95550.23
    "99000",  # 10: stop 97020.00 / 96534.90
    "96534.90",  # 11: through the trigger, at the limit: fills at 96534.90 (taker)
)
# position 1: -100.988 (test 1)
# position 2: proceeds 9653.490 - cost 9799.020 - fees (97990.20 * 0.1 * 0.004 = 39.19608
#   + 96534.90 * 0.1 * 0.006 = 57.92094) = -145.53 - 97.11702 = -242.64702
RESTART_PNL = [D("-100.988"), D("-242.64702")]


def test_uninterrupted_run_of_the_restart_path(store):
    ex = new_exchange()
    eng = new_engine(RESTART_PATH, ex, store, min_ratchet="0.001")
    eng.run()
    assert [p["realized_pnl"] for p in store.closed_positions(PID)] == RESTART_PNL
    assert store.total_realized_pnl(PID) == D("-343.63502")


@pytest.mark.parametrize("split", range(1, len(RESTART_PATH)))
def test_restart_in_process_gives_the_uninterrupted_result(tmp_path, split):
    ex = new_exchange()
    first = Store(tmp_path / "s.sqlite")
    eng = new_engine(RESTART_PATH, ex, first, min_ratchet="0.001")
    assert eng.run(ticks=split) == split
    first.close()

    with Store(tmp_path / "s.sqlite") as second:
        again = new_engine(RESTART_PATH, ex, second, min_ratchet="0.001")
        again.run()
        assert [p["realized_pnl"] for p in second.closed_positions(PID)] == RESTART_PNL
        assert second.total_realized_pnl(PID) == D("-343.63502")
        assert again.cursor == len(RESTART_PATH)
        # the same orders as an uninterrupted run: t-1 .. t-9, nothing doubled
        coids = [o.client_order_id for o in ex.list_orders(PID)]
        assert coids == [f"t-{n}" for n in range(1, len(coids) + 1)]
        assert len(open_stops(ex)) == 0
        assert again.summary()["live_stops"] == 0


# -- client order ids after a lost commit ------------------------------------------------


def test_a_store_that_lost_its_last_commits_never_reuses_a_client_order_id(tmp_path):
    """A power cut can lose commits that were not fsync'd while their orders reached the
    exchange: the restored id counter is behind. Coinbase answers a reused id with the
    OLD order, so the engine must skip every id the exchange already knows."""
    import shutil

    ex = new_exchange()
    db = tmp_path / "s.sqlite"
    with Store(db) as s:
        new_engine(RATCHET_PATH[:3], ex, s, min_ratchet="0.001").run()  # entry + first stop
    shutil.copy(db, tmp_path / "old.sqlite")  # the state a rolled-back file would have
    for suffix in ("-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            shutil.copy(f"{db}{suffix}", tmp_path / f"old.sqlite{suffix}")
    with Store(db) as s:
        new_engine(RATCHET_PATH[:6], ex, s, min_ratchet="0.001").run()  # two stop moves
    known = {o.client_order_id for o in ex.list_orders(PID)}
    assert known == {"t-1", "t-2", "t-3", "t-4"}
    # restart on the old file: its counter says 2, the exchange knows up to t-4
    with Store(tmp_path / "old.sqlite") as old:
        eng = new_engine(RATCHET_PATH, ex, old, min_ratchet="0.001")
        eng.start()
        assert eng.decision.seq >= 4  # and whatever recovery placed since, fresh ids
        notes = [r["payload"]["text"] for r in old.journal() if r["kind"] == "note"]
        assert any("skipped 2 client order id" in n for n in notes)
        eng.run()
    after = [o.client_order_id for o in ex.list_orders(PID)]
    assert len(after) == len(set(after))
    assert set(after) - known and all(int(c.split("-")[1]) > 4 for c in set(after) - known)


# -- transient trouble is not fatal ------------------------------------------------------


class BusyOnce:
    """The paper exchange, rate limited (still 429 after the adapter's retries) on the
    first stop placement and on the lookup that follows it."""

    def __init__(self, inner: PaperExchange) -> None:
        self._inner = inner
        self.refused = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def place_stop_limit(self, *args):
        if self.refused == 0:
            self.refused += 1
            from tradekit.exchange.coinbase.common import RateLimited

            raise RateLimited("POST /orders: 429 after 5 attempts")
        return self._inner.place_stop_limit(*args)

    def get_order_by_client_id(self, coid):
        if self.refused == 1:
            self.refused += 1
            from tradekit.exchange.coinbase.common import RateLimited

            raise RateLimited("GET /orders/historical/batch: 429 after 5 attempts")
        return self._inner.get_order_by_client_id(coid)


def test_a_rate_limited_stop_placement_is_settled_and_sent_again_not_fatal(store):
    ex = BusyOnce(new_exchange())
    eng = new_engine(RATCHET_PATH, ex, store, min_ratchet="0.001")
    eng.run(ticks=3)  # the entry fills at tick 2; its stop meets the 429s
    stop = eng.decision.stop
    assert stop is not None and stop.status is OrderStatus.SUBMIT_UNKNOWN  # never assumed
    eng.run(ticks=1)  # the next pull settles it: looked up, not there, sent (same id)
    assert ex._inner.get_order_by_client_id(stop.client_order_id) is not None  # the resend
    [live] = open_stops(ex._inner)  # ... then moved by tick 3's new high, as usual
    assert live.client_order_id == eng.decision.stop.client_order_id
    assert eng.decision.stop.status is OrderStatus.OPEN
