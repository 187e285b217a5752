"""A clean stop leaves nothing on the exchange unsaid: resting entries are cancelled by
default (a fill in the meantime is protected as usual) and the pairs keep their trading
state for the next start; with `keep_entries` they stay and `resting()` lists them, as
it lists every stop and exit left in place, each with why."""

from __future__ import annotations

import pytest
from test_portfolio_lanes import (
    A,
    B,
    b_enters_is_protected_and_trails,
    eventually,
    portfolio,
)

from tradekit.core.events import TradingState
from tradekit.core.orders import OrderStatus


async def started_with_a_resting_entry(tmp_path):
    pf, ex, market, store = portfolio(tmp_path)
    handle = pf.start()
    await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
    await b_enters_is_protected_and_trails(pf, ex, market)  # B holds, its stop rests
    market.print(A, "60000")
    entry = await eventually(lambda: pf.drivers[A].decision.entry, "A's entry placed")
    await eventually(lambda: entry.order_id is not None, "A's entry accepted")
    return pf, ex, market, store, handle, entry


@pytest.mark.asyncio
async def test_a_clean_stop_cancels_resting_entries_and_keeps_the_stops(tmp_path):
    pf, ex, _market, store, handle, entry = await started_with_a_resting_entry(tmp_path)
    with store:
        await handle.stop()
        assert ex.paper.get_order(entry.order_id).status is OrderStatus.CANCELLED
        d = pf.drivers[A].decision
        assert d.entry is None and d.trading_state is TradingState.ACTIVE  # next start trades
        stop = pf.drivers[B].decision.stop
        assert ex.paper.get_order(stop.order_id).status is OrderStatus.OPEN
        assert [(pid, o.client_order_id, why) for pid, o, why in pf.resting()] == [
            (B, stop.client_order_id, "the stop of the position held")
        ]
        states = [
            (r["payload"]["state"], r["payload"]["reason"])
            for r in store.journal(product_id=A, kinds="event")
            if r["type"] == "TradingStateChanged"
        ]
        assert states == [
            ("HALTED", "clean stop: entry cancelled"),
            ("ACTIVE", "clean stop: trading state kept for the next start"),
        ]


@pytest.mark.asyncio
async def test_keep_entries_leaves_them_and_says_so(tmp_path):
    pf, ex, _market, store, handle, entry = await started_with_a_resting_entry(tmp_path)
    with store:
        await handle.stop(keep_entries=True)
        assert ex.paper.get_order(entry.order_id).status is OrderStatus.OPEN
        whys = {o.client_order_id: why for _, o, why in pf.resting()}
        assert whys[entry.client_order_id] == "an entry, kept (keep_entries)"
        assert whys[pf.drivers[B].decision.stop.client_order_id].startswith("the stop")
