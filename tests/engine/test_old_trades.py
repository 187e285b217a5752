"""Time-aware prints: a trade older than `max_trade_age_s` by the local clock when it is
received, or older than the newest trade of its pair already seen (in this run or, from
the store, the last one), is neither decided on nor observed: the stop never moves on a
price the market left long ago; it is counted and journaled once per episode."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from typing import Any

import pytest
from test_portfolio_lanes import (
    B,
    Market,
    b_enters_is_protected_and_trails,
    decision,
    eventually,
    portfolio,
    protected,
)

from tradekit.core.events import MarketTrade
from tradekit.engine.portfolio import Portfolio

MINUTE_NS = 60 * 10**9


def old_notes(store: Any) -> list[str]:
    return [
        r["payload"]["text"] for r in store.journal(kinds="note") if r["payload"].get("old") is True
    ]


async def settle(pf: Portfolio, market: Market) -> None:
    await eventually(lambda: all(lane.idle for lane in pf._lanes.values()), "lanes idle")
    await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_a_ten_minute_old_print_3pct_higher_moves_nothing(tmp_path):
    pf, ex, market, store = portfolio(tmp_path, max_trade_age_s=5.0)
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        d = pf.drivers[B].decision
        trigger, high = d.position.stop_trigger, d.position.highest
        old = time.time_ns() - 10 * MINUTE_NS
        for i in range(3):  # what an exchange catching up after an outage sends
            market.queue.put_nowait(MarketTrade(B, high * D("1.03"), D("1"), old + i))
        market.print(B, str(high))  # then a current one, at the old high
        await eventually(lambda: pf.stats.too_old == 3, "three old prints counted")
        await settle(pf, market)
        assert d.position.stop_trigger == trigger and d.position.highest == high
        assert protected(pf, ex, B)
        (note,) = old_notes(store)  # once per episode, with the age
        assert "600." in note and "max_trade_age 5 s" in note and "not decided on" in note
        # a later current print at a new high moves the stop as usual
        market.print(B, str(high * D("1.01")))
        await eventually(lambda: d.position.stop_trigger > trigger, "the stop follows")
        await handle.stop()


@pytest.mark.asyncio
async def test_after_a_restart_a_print_older_than_the_last_run_knew_is_not_news(tmp_path):
    """No max_trade_age here: the newest trade time the last run decided on (persisted
    with its state) is enough to refuse a replay of older prints."""
    pf, ex, market, store = portfolio(tmp_path, max_trade_age_s=None)
    with store:
        handle = pf.start()
        await eventually(lambda: all(h.recovered for h in pf.health.values()), "recovered")
        await b_enters_is_protected_and_trails(pf, ex, market)
        d = pf.drivers[B].decision
        trigger, high, last_ts = d.position.stop_trigger, d.position.highest, d.last_ts
        await handle.stop()
        # the restart: new engines, their state from the store; the same exchange
        again = Market(market.paper)
        pf2 = Portfolio([decision(n) for n in pf.drivers], ex, store, again.feed,
                        poll_after_s=3600, stale_after_s=3600, max_trade_age_s=None)  # fmt: skip
        handle2 = pf2.start()
        await eventually(lambda: all(h.recovered for h in pf2.health.values()), "recovered")
        d2 = pf2.drivers[B].decision
        assert d2.position.stop_trigger == trigger
        again.queue.put_nowait(MarketTrade(B, high * D("1.03"), D("1"), last_ts - 10**9))
        await eventually(lambda: pf2.stats.too_old == 1, "the replayed print refused")
        await settle(pf2, again)
        assert d2.position.stop_trigger == trigger and d2.position.highest == high
        assert "older than the newest trade seen (1.000 s)" in old_notes(store)[-1]
        await handle2.stop()
