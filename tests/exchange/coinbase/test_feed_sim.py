"""The feed client against `tradekit sim` over real sockets, sync and async alike: no
user-channel fill is lost or counted twice, whatever the connection does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from tradekit.core.events import MarketTrade, OrderStatusReport
from tradekit.core.orders import OrderStatus
from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed, FeedConfig
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase._sync.feed import CoinbaseFeed
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.sim.server import SimServer

FAST = 100_000.0
BTC = "BTC-USD"
SIZE = D("0.001")
N = 6
DEADLINE_S = 20.0

FAULTS = {
    "clean": {},
    "dropped-sockets": {"ws_drop_after": 7},
    "sequence-gaps": {"ws_drop_rate": 0.3},
    "duplicates": {"ws_dup_seq": 0.4},
    "skipped-numbers": {"ws_skip_seq": 0.3},
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    keys = tmp_path_factory.mktemp("feed") / "key.json"
    with SimServer(keys_file=keys, rate_limit_per_s=FAST, public_rate_limit_per_s=FAST) as s:
        yield s


def print_trade(sim: SimServer, price: D) -> None:
    ts = sim.call(lambda st: st.now())
    sim.call(lambda st: st.advance(MarketTrade(BTC, price, D("1"), ts, "")))


class Ledger:
    """What the feed said: fills are the increases of each order's cumulative size."""

    def __init__(self) -> None:
        self.cumulative: dict[str, D] = {}
        self.counted: dict[str, D] = {}
        self.status: dict[str, OrderStatus] = {}

    def see(self, ev: Any) -> None:
        if not isinstance(ev, OrderStatusReport) or ev.filled_size is None:
            return
        before = self.cumulative.get(ev.client_order_id, D(0))
        assert ev.filled_size >= before, "a report went back in fills"
        self.counted[ev.client_order_id] = (
            self.counted.get(ev.client_order_id, D(0)) + ev.filled_size - before
        )
        self.cumulative[ev.client_order_id] = ev.filled_size
        self.status[ev.client_order_id] = ev.status

    def all_open(self, coids: list[str]) -> bool:
        return all(self.status.get(c) is OrderStatus.OPEN for c in coids)

    def all_filled(self, coids: list[str]) -> bool:
        return all(self.status.get(c) is OrderStatus.FILLED for c in coids)


def place_orders(sim: SimServer, rest: CoinbaseRest, tag: str) -> list[str]:
    print_trade(sim, D("60000.00"))
    coids = []
    for i in range(N):
        coid = f"feed-{tag}-{i}-{time.monotonic_ns()}"
        assert rest.place_limit_buy(coid, BTC, SIZE, D("59000.00") - 10 * i).success
        coids.append(coid)
    return coids


def fill_them(sim: SimServer) -> None:
    for i in range(N):  # each print fills one more order (the limits step down by 10)
        print_trade(sim, D("59000.00") - 10 * i)


def config() -> FeedConfig:
    return FeedConfig(
        channels=("heartbeats", "user"),
        heartbeat_timeout_s=3.0,
        reconnect_base_s=0.01,
        reconnect_max_s=0.2,
        max_reconnects=200,
    )


@pytest.mark.parametrize("fault", list(FAULTS))
def test_sync_feed_counts_every_fill_once(sim: SimServer, fault: str) -> None:
    assert sim.keys_file is not None
    creds = Credentials.from_file(sim.keys_file)
    rest = CoinbaseRest(creds, sim.base_url)
    coids = place_orders(sim, rest, f"sync-{fault}")
    sim.call(lambda st: st.faults.update(FAULTS[fault]))
    feed = CoinbaseFeed(sim.ws_url, [BTC], creds, rest=rest, config=config(), seed=1)
    ledger = Ledger()
    deadline = time.monotonic() + DEADLINE_S
    filled = False
    try:
        for ev in feed.events():
            ledger.see(ev)
            if not filled and ledger.all_open(coids):
                fill_them(sim)
                filled = True
            if filled and ledger.all_filled(coids):
                break
            assert time.monotonic() < deadline, (fault, feed.stats, ledger.status)
    finally:
        feed.close()
        sim.call(
            lambda st: st.faults.update(
                {k: 0.0 for k in ("ws_drop_rate", "ws_dup_seq", "ws_skip_seq")}
            )
        )
        sim.call(lambda st: st.faults.update({"ws_drop_after": None}))
        rest.close()
    for c in coids:
        assert ledger.counted[c] == SIZE  # once, not zero, not twice
    check_fault_seen(fault, feed.stats)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_async_feed_counts_every_fill_once(sim: SimServer, fault: str) -> None:
    assert sim.keys_file is not None
    creds = Credentials.from_file(sim.keys_file)
    sync_rest = CoinbaseRest(creds, sim.base_url)
    coids = place_orders(sim, sync_rest, f"async-{fault}")
    sync_rest.close()
    sim.call(lambda st: st.faults.update(FAULTS[fault]))

    async def consume() -> tuple[Ledger, Any]:
        rest = AsyncCoinbaseRest(creds, sim.base_url)
        feed = AsyncCoinbaseFeed(sim.ws_url, [BTC], creds, rest=rest, config=config(), seed=1)
        ledger = Ledger()
        deadline = time.monotonic() + DEADLINE_S
        filled = False
        try:
            async for ev in feed.events():
                ledger.see(ev)
                if not filled and ledger.all_open(coids):
                    fill_them(sim)
                    filled = True
                if filled and ledger.all_filled(coids):
                    break
                assert time.monotonic() < deadline, (fault, feed.stats, ledger.status)
        finally:
            await feed.close()
            await rest.aclose()
        return ledger, feed.stats

    try:
        ledger, stats = asyncio.run(consume())
    finally:
        sim.call(
            lambda st: st.faults.update(
                {k: 0.0 for k in ("ws_drop_rate", "ws_dup_seq", "ws_skip_seq")}
            )
        )
        sim.call(lambda st: st.faults.update({"ws_drop_after": None}))
    for c in coids:
        assert ledger.counted[c] == SIZE
    check_fault_seen(fault, stats)


def check_fault_seen(fault: str, stats: Any) -> None:
    """The fault really happened, and the feed noticed it."""
    if fault == "dropped-sockets":
        assert stats.reconnects > 0 and stats.resyncs > 0
    elif fault in ("sequence-gaps", "skipped-numbers"):
        assert stats.gaps > 0 and stats.resyncs > 0
    elif fault == "duplicates":
        assert stats.duplicates > 0
    else:
        assert stats.gaps == stats.duplicates == stats.reconnects == 0


def test_a_sync_close_completes_the_handshake_with_a_full_queue(sim: SimServer) -> None:
    """websockets' sync reader pauses while its message queue is full; a close then used
    to wait out close_timeout (10 s) and end abnormally. Now the handshake completes: the
    server's own close frame (1000) arrives, and no reader thread is left behind."""
    import json
    import threading

    from tradekit.exchange.coinbase._sync._compat import close_websocket, open_websocket

    ws = open_websocket(sim.ws_url)
    ws.send(json.dumps({"type": "subscribe", "channel": "market_trades", "product_ids": [BTC]}))
    ws.recv(timeout=5)  # the snapshot: subscribed
    ts = sim.call(lambda st: st.now())
    for i in range(200):  # far past websockets' queue of 16 messages, never read
        trade = MarketTrade(BTC, D(1000 + i % 7), D("1"), ts + i, f"flood-{i}")
        sim.call(lambda st, t=trade: st.advance(t))
    assert ws.recv_messages.frames.qsize() >= 16  # the reader has paused on a full queue
    close_websocket(ws)
    for thread in threading.enumerate():
        if thread.name == "ws-close":
            thread.join(timeout=15)  # bounded; done already when the handshake completed
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000
    assert ws.close_code == 1000


def test_a_usdc_pair_sees_every_trade_of_each_newest_first_batch(tmp_path: Any) -> None:
    """The simulator behaves as Coinbase here: a batch of trades is listed newest first
    and a -USDC product's trades come labelled -USD. The feed gives the configured
    BTC-USDC pair every trade, in time order, the high inside each batch included."""
    from dataclasses import replace

    from tradekit.exchange.paper import PaperExchange
    from tradekit.exchange.products import BTC_USD
    from tradekit.sim.state import SimState

    usdc = replace(BTC_USD, product_id="BTC-USDC")
    state = SimState(PaperExchange([usdc], {"USDC": D("1000")}))
    prices = [D(p) for p in ("100.00", "104.00", "101.00", "103.00", "102.00", "99.00")]

    async def run(url: str) -> list[MarketTrade]:
        feed = AsyncCoinbaseFeed(url, ["BTC-USDC"], config=FeedConfig(channels=("market_trades",)))
        got: list[MarketTrade] = []

        async def collect() -> None:
            async for ev in feed.events():
                assert isinstance(ev, MarketTrade)
                got.append(ev)
                if len(got) == len(prices):
                    return

        task = asyncio.ensure_future(collect())
        await asyncio.sleep(0.3)  # subscribed
        # printed together: they go out as one batch (the sim batches what piled up)
        sim.call(
            lambda st: [
                st.advance(MarketTrade("BTC-USDC", p, D("1"), st.now(), "")) for p in prices
            ]
        )
        await asyncio.wait_for(task, 10)
        await feed.close()
        return got

    with SimServer(state, rate_limit_per_s=FAST, public_rate_limit_per_s=FAST) as sim:
        got = asyncio.run(run(sim.ws_url))
    assert [t.price for t in got] == prices
    assert {t.product_id for t in got} == {"BTC-USDC"}
    assert [t.ts for t in got] == sorted(t.ts for t in got)
