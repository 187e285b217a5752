"""The async Portfolio against tradekit sim over real sockets (127.0.0.1 only).

Every test opens a session (`open_session`: an in-process SimServer with its market
moving, the async REST adapter, the WebSocket feed, a store in tmp_path) on three pairs
with tight trails, so that entries, stop moves and exits happen within a second or two at
200x. Every wait is bounded by a deadline.

Before checking the exchange against the store, `quiesce` stops the simulator's market
and waits until the engine has seen everything: the market keeps printing after
`handle.stop()` otherwise, and a stop that triggers between the two reads would make the
comparison racy.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from helpers.portfolio_sim import (
    FAR,
    PAIRS,
    QUICK,
    TEST_BOUND_S,
    assert_every_position_protected,
    bounded,
    commands,
    ended,
    eventually,
    exchange_fills_by_order,
    make_config,
    open_orders,
    orders_match_exchange,
    pair,
    quiesce,
    session_on,
    state_changes,
)

from tradekit.app.session import Session
from tradekit.core.orders import OrderSide
from tradekit.exchange.coinbase._async.feed import FeedConfig
from tradekit.store.sqlite import StoreError

# --------------------------------------------------------------------------- trading


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_three_pairs_enter_trail_and_exit_and_open_positions_stay_protected(tmp_path):
    async with session_on(tmp_path, make_config()) as session:
        store = session.store
        handle = session.portfolio.start()

        def traded() -> bool:
            entered = {r["product_id"] for r in commands(session, "PlaceLimitBuy")}
            moved = [s for s in store.stop_history() if s["old_trigger"] is not None]
            return entered == set(PAIRS) and bool(moved) and bool(store.closed_positions())

        await eventually(traded, 10, "entries on every pair, a stop moved, an exit")
        assert handle.running and handle.exception is None
        await quiesce(session)
        await handle.stop()
        assert not handle.running and handle.exception is None

        # the ratchet only ever raised a stop
        for s in store.stop_history():
            assert s["old_trigger"] is None or s["trigger"] > s["old_trigger"]
        for p in store.closed_positions():  # one entry fill, one stop fill: exact P&L
            pnl = (p["exit_price"] - p["entry_price"]) * p["size"] - p["fees"]
            assert p["realized_pnl"] == pnl
        assert_every_position_protected(session)
        rows = {r["product_id"]: r for r in session.portfolio.status()}
        assert set(rows) == set(PAIRS)


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_a_risk_limit_refuses_entries_with_the_reason_journaled(tmp_path):
    pairs = [pair(pid, QUICK) for pid in PAIRS]
    async with session_on(tmp_path, make_config(pairs, max_open_positions=1)) as session:
        pf = session.portfolio
        handle = pf.start()
        busy_max = 0

        def refused() -> list[dict[str, Any]]:
            nonlocal busy_max
            busy = sum(1 for r in pf.status() if r["phase"] != "flat")
            busy_max = max(busy_max, busy)
            return [
                r
                for r in session.store.journal(kinds="report")
                if r["type"] == "EntrySkipped"
                and r["payload"]["reason"].startswith("max open positions")
            ]

        skips = await eventually(refused, 8, "an EntrySkipped for max open positions")
        # keep sampling a little: never two pairs entering or holding at once
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            refused()
            await asyncio.sleep(0.01)
        await handle.stop()
        assert handle.exception is None
        assert skips[0]["payload"]["reason"] == "max open positions: 1 of 1 in use"
        assert busy_max == 1
        # the step that refused placed nothing
        placed_at = {(r["product_id"], r["ts"]) for r in commands(session, "PlaceLimitBuy")}
        assert all((r["product_id"], r["ts"]) not in placed_at for r in skips)


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_the_kill_switch_cancels_entries_allows_no_new_one_and_leaves_stops(tmp_path):
    wide = {"trail_pct": "0.01", "max_entry_wait": "10m"}  # positions that survive the test
    pairs = [
        pair("BTC-USD", QUICK, **wide),
        pair("ETH-USD", FAR, **wide),  # an entry that keeps working until killed
        pair("SOL-USD", QUICK, **wide),
    ]
    async with session_on(tmp_path, make_config(pairs)) as session:
        pf = session.portfolio
        handle = pf.start()

        def ready() -> bool:
            rows = {r["product_id"]: r for r in pf.status()}
            eth_entry = pf.drivers["ETH-USD"].decision.entry
            return (
                eth_entry is not None
                and eth_entry.order_id is not None
                and any(rows[p]["phase"] == "in_position" for p in ("BTC-USD", "SOL-USD"))
            )

        await eventually(ready, 8, "a working ETH entry and a position elsewhere")
        holding = [p for p, d in pf.drivers.items() if d.decision.position is not None]
        eth_entry = pf.drivers["ETH-USD"].decision.entry
        assert eth_entry is not None
        pf.kill()
        await eventually(
            lambda: all(r["state"] == "HALTED" for r in pf.status()), 5, "every pair halted"
        )
        await eventually(
            lambda: pf.drivers["ETH-USD"].decision.entry is None, 5, "the ETH entry cancelled"
        )
        await asyncio.sleep(1.5)  # the market goes on: nothing new may be bought
        await quiesce(session)
        await handle.stop()
        assert handle.exception is None

        killed = {
            r["payload"]["client_order_id"]
            for r in commands(session, "CancelOrder")
            if r["payload"]["reason"] == "kill"
        }
        entries = {r["payload"]["client_order_id"] for r in commands(session, "PlaceLimitBuy")}
        assert eth_entry.client_order_id in killed
        assert killed <= entries  # entries only, never a stop
        for pid in PAIRS:  # no entry works anywhere any more
            assert pf.drivers[pid].decision.entry is None
            assert all(o.side is OrderSide.SELL for o in open_orders(session, pid))
        cancelled = session.sim.call(lambda st: st.exchange.get_order(eth_entry.order_id))
        assert cancelled.status.value == "CANCELLED"
        for pid in PAIRS:
            (halted,) = state_changes(session, pid, "HALTED")
            assert halted["payload"]["reason"] == "kill switch"
            late = [r for r in commands(session, "PlaceLimitBuy", pid) if r["seq"] > halted["seq"]]
            assert late == [], f"{pid} bought after the kill switch"
        # the positions held at the kill are still protected (or closed by their stop)
        assert_every_position_protected(session)
        for pid in holding:
            still = pf.drivers[pid].decision.position is not None
            closed_by_stop = any(
                r["type"] == "StopTriggered"
                for r in session.store.journal(product_id=pid, kinds="report")
            )
            assert still or closed_by_stop


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_pause_and_resume_one_pair_while_the_others_trade(tmp_path):
    quick_exit = {"trail_pct": "0.001", "max_entry_wait": "1s"}
    pairs = [pair(pid, QUICK, **quick_exit) for pid in PAIRS]
    async with session_on(tmp_path, make_config(pairs)) as session:
        pf = session.portfolio
        handle = pf.start()
        await eventually(lambda: commands(session, "PlaceLimitBuy", "SOL-USD"), 5, "SOL enters")

        pf.pause("SOL-USD")
        await eventually(
            lambda: pf.status()[2]["state"] == "PAUSED", 5, "SOL paused (status shows it)"
        )
        (paused,) = state_changes(session, "SOL-USD", "PAUSED")
        assert paused["payload"]["reason"] == "paused"

        def others_entered_since_pause() -> bool:
            return all(
                any(r["seq"] > paused["seq"] for r in commands(session, "PlaceLimitBuy", pid))
                for pid in ("BTC-USD", "ETH-USD")
            )

        await eventually(others_entered_since_pause, 6, "BTC and ETH enter again while SOL rests")
        # long enough for SOL to finish what it had and to see entry signals (QUICK fires
        # on every trade while flat): none is acted upon while paused
        await eventually(
            lambda: pf.drivers["SOL-USD"].decision.phase.value == "flat", 6, "SOL flat"
        )
        await asyncio.sleep(0.5)
        sol_buys = commands(session, "PlaceLimitBuy", "SOL-USD")
        assert [r for r in sol_buys if r["seq"] > paused["seq"]] == []
        assert [r["state"] for r in pf.status()] == ["ACTIVE", "ACTIVE", "PAUSED"]

        pf.resume("SOL-USD")
        await eventually(
            lambda: state_changes(session, "SOL-USD", "ACTIVE"), 5, "SOL resumed (journaled)"
        )
        (resumed,) = state_changes(session, "SOL-USD", "ACTIVE")
        assert resumed["payload"]["reason"] == "resumed"
        await eventually(
            lambda: [
                r
                for r in commands(session, "PlaceLimitBuy", "SOL-USD")
                if r["seq"] > resumed["seq"]
            ],
            5,
            "SOL enters again after resume",
        )
        assert [r["state"] for r in pf.status()] == ["ACTIVE"] * 3
        await handle.stop()
        assert handle.exception is None


# ------------------------------------------------------------------- no fill missed


async def reconnecting_run(session: Session) -> None:
    """Trade while the simulator drops every WebSocket after 300 messages, loses 0.3% of
    them silently and sends 2% twice; then heal, stop the market and let the feed resync.

    Each reconnect and each gap costs a resync of 4-6 REST requests: more faults than this
    exceed the simulator's 30 requests a second, and the engine then falls behind."""
    pf = session.portfolio
    handle = pf.start()
    await eventually(lambda: pf.stats.messages > 50, 5, "the feed flows")
    session.sim.call(
        lambda st: st.faults.update(
            {"ws_drop_after": 300, "ws_drop_rate": 0.003, "ws_dup_seq": 0.02}
        )
    )
    stats = session.feed.stats

    def eventful() -> bool:
        closed = len(session.store.closed_positions())
        faults_seen = stats.reconnects >= 3 and stats.gaps >= 1 and stats.duplicates >= 1
        return faults_seen and closed >= 2

    await eventually(eventful, 10, "reconnects, gaps and exits under faults")
    session.sim.call(
        lambda st: st.faults.update({"ws_drop_after": None, "ws_drop_rate": 0.0, "ws_dup_seq": 0.0})
    )
    await quiesce(session, lossy=True)
    # a message lost at the very end shows as a gap at the next heartbeat: its resync
    # must bring every order's fills in
    await eventually(lambda: orders_match_exchange(session), 5, "every fill known")
    await handle.stop()
    assert handle.exception is None


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_reconnects_and_lost_messages_lose_no_fill_and_count_none_twice(tmp_path):
    async with session_on(tmp_path, make_config()) as session:
        await reconnecting_run(session)
        stats = session.feed.stats
        assert stats.reconnects >= 3 and stats.gaps >= 1 and stats.duplicates >= 1
        assert stats.resyncs >= 3  # from REST after every reconnect and gap

        by_order = exchange_fills_by_order(session)
        ours = session.store.order_history()
        our_ids = {o["order_id"] for o in ours if o["order_id"] is not None}
        # an order without an exchange id was refused (e.g. a stop above the last price)
        for o in ours:
            assert (o["order_id"] is None) == (o["status"] == "REJECTED"), o
        # every fill at the exchange belongs to an order the engine journaled
        assert set(by_order) <= our_ids
        for o in ours:
            fills = by_order.get(o["order_id"], [])
            size = sum((f.size for f in fills), Decimal(0))
            value = sum((f.size * f.price for f in fills), Decimal(0))
            fees = sum((f.commission for f in fills), Decimal(0))
            assert (o["filled_size"], o["filled_value"], o["fees"]) == (size, value, fees), o
        # positions: what was bought was sold (closed) or is still held, exactly
        bought = sum((o["filled_size"] for o in ours if o["side"] == "BUY"), Decimal(0))
        sold = sum((o["filled_size"] for o in ours if o["side"] == "SELL"), Decimal(0))
        held = sum(
            (
                d.decision.position.open_size
                for d in session.portfolio.drivers.values()
                if d.decision.position is not None
            ),
            Decimal(0),
        )
        assert bought - sold == held
        closed = session.store.closed_positions()
        assert len(closed) >= 2
        assert_every_position_protected(session)


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_every_exchange_fill_is_in_the_stores_fills(tmp_path):
    """Fills reported on the user channel (cumulative figures, no trade id) are booked
    in the store's fills table too, each once (before 2604205 they never were)."""
    async with session_on(tmp_path, make_config()) as session:
        await reconnecting_run(session)
        exchange = {
            (f.client_order_id, f.trade_id)
            for fills in exchange_fills_by_order(session).values()
            for f in fills
        }
        stored = Counter((f["client_order_id"], f["trade_id"]) for f in session.store.fills())
        assert len(exchange) >= 2
        assert set(stored) == exchange
        assert set(stored.values()) == {1}


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_without_the_user_channel_fills_arrive_by_rest_polling(tmp_path):
    feed = FeedConfig(channels=("heartbeats", "market_trades"))
    async with session_on(tmp_path, make_config(), feed_config=feed, poll_after_s=0.3) as s:
        pf, store = s.portfolio, s.store
        handle = pf.start()
        await eventually(
            lambda: len(store.closed_positions()) >= 1 and len(store.fills()) >= 2,
            10,
            "fills and an exit learnt by polling",
        )
        await quiesce(s)
        await asyncio.sleep(0.5)  # one more poll after the last print

        def all_fills_stored() -> bool:
            want = {
                (f.client_order_id, f.trade_id)
                for fills in exchange_fills_by_order(s).values()
                for f in fills
            }
            return want == {(f["client_order_id"], f["trade_id"]) for f in store.fills()}

        await eventually(all_fills_stored, 3, "every exchange fill in the store")
        await handle.stop()
        assert handle.exception is None
        assert pf.stats.polls > 0
        assert s.feed.stats.resyncs == 0  # no user channel: nothing to resync from
        stored = store.fills()
        assert len({(f["client_order_id"], f["trade_id"]) for f in stored}) == len(stored)
        by_trade = {f.trade_id: f for fills in exchange_fills_by_order(s).values() for f in fills}
        for f in stored:
            ex = by_trade[f["trade_id"]]
            assert (f["client_order_id"], f["price"], f["size"], f["fee"]) == (
                ex.client_order_id,
                ex.price,
                ex.size,
                ex.commission,
            )
        assert_every_position_protected(s)


# --------------------------------------------------------------------- life cycle


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_stop_leaves_no_task_behind(tmp_path):
    async with session_on(tmp_path, make_config()) as session:
        before = asyncio.all_tasks()
        handle = session.portfolio.start()
        await eventually(lambda: session.store.stop_history(), 8, "a stop placed")
        assert asyncio.all_tasks() - before  # the run and its feed reader
        t0 = time.monotonic()
        await asyncio.wait_for(handle.stop(), 5)
        assert time.monotonic() - t0 < 2
        assert asyncio.all_tasks() == before
        assert not handle.running and handle.exception is None
        assert repr(handle).endswith("stopped)")
        await handle.stop()  # again: nothing to do


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_a_feed_that_fails_ends_the_run_with_its_error_surfaced_and_journaled(tmp_path):
    feed = FeedConfig(max_reconnects=0)  # the first drop is fatal
    async with session_on(tmp_path, make_config(), feed_config=feed, poll_after_s=0.3) as s:
        handle = s.portfolio.start()
        await eventually(lambda: s.store.stop_history(), 8, "a stop placed")
        s.sim.call(lambda st: st.faults.update({"ws_drop_after": 0}))
        await ended(handle, 5)
        exc = handle.exception
        assert isinstance(exc, ConnectionError)
        assert "gave up after 0 reconnects" in str(exc)
        notes = [r["payload"]["text"] for r in s.store.journal(kinds="note")]
        assert notes == [f"portfolio stopped by an error: {exc!r}"]
        await handle.stop()  # harmless after the end


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_a_store_closed_under_the_run_ends_it_with_a_store_error(tmp_path):
    async with session_on(tmp_path, make_config()) as session:
        handle = session.portfolio.start()
        await eventually(lambda: session.store.stop_history(), 8, "a stop placed")
        session.store.close()
        await ended(handle, 5)
        assert isinstance(handle.exception, StoreError)
        assert handle.exception.path == str(tmp_path / "run.sqlite")


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_a_store_failure_surfaces_the_failed_write_not_the_failed_note(tmp_path):
    """When the store is what failed, the note about it fails too: the error that ended
    the run must stay on the handle (before 2604205 the failed note's error replaced it)."""
    async with session_on(tmp_path, make_config()) as session:
        handle = session.portfolio.start()
        await eventually(lambda: session.store.stop_history(), 8, "a stop placed")
        session.store.close()
        await ended(handle, 5)
        assert re.search(r": (record|record_outcome) failed", str(handle.exception))


# ------------------------------------------------------------- transient is not fatal


@pytest.mark.asyncio
@bounded(TEST_BOUND_S)
async def test_a_rest_outage_degrades_pairs_and_never_ends_the_run(tmp_path):
    """Every REST call answered 500 for a while: before, `tradekit run` ended with
    `HTTP 500` and left its positions unwatched. Now the pairs degrade (journaled), keep
    their stops where they are, and reconcile when REST answers again."""
    async with session_on(tmp_path, make_config()) as session:
        pf = session.portfolio
        handle = pf.start()
        # an order rests, so the REST safety net (every poll_after_s) must ask about it
        await eventually(
            lambda: any(d.decision.pending_orders() for d in pf.drivers.values()), 10, "orders"
        )
        session.sim.call(lambda st: setattr(st.faults, "rest_error_rate", 1.0))
        await eventually(lambda: any(h.degraded for h in pf.health.values()), 20, "a pair degraded")
        await asyncio.sleep(1.5)  # the outage goes on: nothing ends
        assert handle.running and handle.exception is None
        session.sim.call(lambda st: setattr(st.faults, "rest_error_rate", 0.0))
        await eventually(
            lambda: not any(h.degraded for h in pf.health.values()), 40, "every pair healed"
        )
        await quiesce(session)
        await eventually(lambda: orders_match_exchange(session), 5, "every fill known")
        notes = [r["payload"]["text"] for r in session.store.journal() if r["kind"] == "note"]
        assert any("degraded" in n for n in notes) and any("recovered" in n for n in notes)
        assert_every_position_protected(session)
        await handle.stop()
        assert handle.exception is None
