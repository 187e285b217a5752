"""The feed's resync against `tradekit sim` over real sockets, sync and async alike, when
REST and the WebSocket fail together: market data keeps flowing while the resync fails,
the pairs are marked degraded, the resync is retried with back-off, the stream never
ends, and once REST answers again every fill is reported once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from test_feed_sim import BTC, SIZE, Ledger, N, fill_them, place_orders

from tradekit.core.events import MarketTrade
from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed, FeedConfig
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase._sync.feed import CoinbaseFeed
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.common import RetryPolicy
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.sim.server import SimServer

FAST = 100_000.0
DEADLINE_S = 30.0
OUTAGE = {"rest_error_rate": 1.0, "ws_drop_after": 60}
CLEAR = {"rest_error_rate": 0.0, "ws_drop_after": None}
QUICK = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture()
def sim(tmp_path: Any) -> Iterator[SimServer]:
    with SimServer(
        keys_file=tmp_path / "key.json", rate_limit_per_s=FAST, public_rate_limit_per_s=FAST
    ) as s:
        yield s


def config() -> FeedConfig:
    return FeedConfig(
        channels=("heartbeats", "market_trades", "user"),
        heartbeat_timeout_s=3.0,
        reconnect_base_s=0.01,
        reconnect_max_s=0.05,
        max_reconnects=10_000,
    )


class Printer:
    """The market keeps trading through the outage: a print every 10 ms, in a thread."""

    def __init__(self, sim: SimServer) -> None:
        self.sim = sim
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            self.sim.call(
                lambda st: st.advance(MarketTrade(BTC, D("60100.00"), D("0.5"), st.now()))
            )

    def __enter__(self) -> Printer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


class Watch:
    """Drives the scenario from the events the feed yields (the same for both twins)."""

    def __init__(self, sim: SimServer, coids: list[str], feed: Any) -> None:
        self.sim, self.coids, self.feed = sim, coids, feed
        self.ledger = Ledger()
        self.trades_while_failing = 0
        self.troubled: set[str] = set()
        self.phase = "opening"
        self.deadline = time.monotonic() + DEADLINE_S

    def on_trouble(self, pid: str, reason: str) -> None:
        assert "resync failed" in reason
        self.troubled.add(pid)

    def see(self, ev: Any) -> bool:
        """True when the scenario is over."""
        stats = self.feed.stats
        assert time.monotonic() < self.deadline, (self.phase, self.trades_while_failing, stats)
        self.ledger.see(ev)
        if self.phase == "opening" and self.ledger.all_open(self.coids):
            self.sim.call(lambda st: st.faults.update(OUTAGE))
            self.phase = "outage"
        elif self.phase == "outage":
            if isinstance(ev, MarketTrade) and stats.resync_failures:
                self.trades_while_failing += 1
            if (
                stats.resync_failures >= 2
                and stats.reconnects >= 2
                and (self.trades_while_failing >= 50)
            ):
                assert self.feed.degraded.keys() == {BTC}
                self.sim.call(lambda st: st.faults.update(CLEAR))
                fill_them(self.sim)  # filled while nobody may know: the resync finds them
                self.phase = "healing"
        elif self.phase == "healing":
            if self.ledger.all_filled(self.coids) and not self.feed.degraded:
                return True
        return False


def check(watch: Watch) -> None:
    assert watch.phase == "healing"
    assert watch.troubled == {BTC}
    assert watch.trades_while_failing >= 50  # market data kept flowing
    for c in watch.coids:
        assert watch.ledger.counted[c] == SIZE  # every fill once
    assert not watch.feed.degraded


def test_sync_feed_rides_out_rest_and_websocket_failing_together(sim: SimServer) -> None:
    assert sim.keys_file is not None
    creds = Credentials.from_file(sim.keys_file)
    rest = CoinbaseRest(creds, sim.base_url, retry=QUICK)
    coids = place_orders(sim, rest, "sync-outage")
    feed = CoinbaseFeed(sim.ws_url, [BTC], creds, rest=rest, config=config(), seed=1)
    watch = Watch(sim, coids, feed)
    feed.on_trouble = watch.on_trouble
    try:
        with Printer(sim):
            for ev in feed.events():
                if watch.see(ev):
                    break
    finally:
        sim.call(lambda st: st.faults.update(CLEAR))
        feed.close()
        rest.close()
    check(watch)


def test_async_feed_rides_out_rest_and_websocket_failing_together(sim: SimServer) -> None:
    assert sim.keys_file is not None
    creds = Credentials.from_file(sim.keys_file)
    sync_rest = CoinbaseRest(creds, sim.base_url)
    coids = place_orders(sim, sync_rest, "async-outage")
    sync_rest.close()

    async def consume() -> Watch:
        rest = AsyncCoinbaseRest(creds, sim.base_url, retry=QUICK)
        feed = AsyncCoinbaseFeed(sim.ws_url, [BTC], creds, rest=rest, config=config(), seed=1)
        watch = Watch(sim, coids, feed)
        feed.on_trouble = watch.on_trouble
        try:
            with Printer(sim):
                async for ev in feed.events():
                    if watch.see(ev):
                        break
        finally:
            await feed.close()
            await rest.aclose()
        return watch

    try:
        watch = asyncio.run(consume())
    finally:
        sim.call(lambda st: st.faults.update(CLEAR))
    check(watch)
    assert len(coids) == N
