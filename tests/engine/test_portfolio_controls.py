"""The controls on their own: when they are refused, what they queue, and their clock."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradekit.core.decision import DecisionEngine
from tradekit.core.entry import FixedOffsetEntry
from tradekit.core.events import TradingState, TradingStateChanged
from tradekit.demo import DemoSetup
from tradekit.engine._async.driver import AsyncPairDriver
from tradekit.engine.controls import Controls
from tradekit.engine.lanes import RunState, Signal
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.paper import PaperExchange
from tradekit.store.sqlite import Store

SEC = 10**9


def controls_on(store: Store, *pids: str) -> tuple[Controls, dict[str, AsyncPairDriver]]:
    exchange = AsyncExchange(PaperExchange(balances={"USD": D("1000")}))
    drivers = {}
    for pid in pids:
        params = DemoSetup(product_id=pid, start_price=D("100"), size=D("1")).params()
        decision = DecisionEngine(params, FixedOffsetEntry(D("0.001")), f"c-{pid}")
        drivers[pid] = AsyncPairDriver(decision, exchange, store)
    return Controls(drivers, RunState()), drivers


def test_controls_are_refused_before_a_run_and_after_it(tmp_path: Path) -> None:
    async def run() -> None:
        with Store(tmp_path / "c.sqlite") as store:
            controls, _ = controls_on(store, "BTC-USD")
            with pytest.raises(RuntimeError, match=r"cannot kill switch: .* was never started"):
                controls.kill()
            task = asyncio.ensure_future(asyncio.sleep(3600))
            controls.run.inbox = asyncio.Queue(4)
            controls.run.task = task
            controls.pause("BTC-USD")  # accepted while the run lasts
            controls.run.stopping = True
            with pytest.raises(RuntimeError, match=r"cannot pause all: .* has stopped"):
                controls.pause_all()
            with pytest.raises(RuntimeError, match=r"cannot pause BTC-USD: .* has stopped"):
                controls.pause("BTC-USD")
            task.cancel()

    asyncio.run(run())


def test_a_control_jumps_the_queue_and_wakes_the_router(tmp_path: Path) -> None:
    """Queued in `urgent` (never behind the inbox's backlog), a wake-up marker in the
    inbox; an unknown pair is refused, naming the pairs there are."""

    async def run() -> None:
        with Store(tmp_path / "c.sqlite") as store:
            controls, _ = controls_on(store, "BTC-USD", "ETH-USD")
            controls.run.inbox = asyncio.Queue(4)
            controls.run.task = task = asyncio.ensure_future(asyncio.sleep(3600))
            with pytest.raises(KeyError, match=r"no pair 'SOL-USD'.*BTC-USD, ETH-USD"):
                controls.pause("SOL-USD")
            killed = controls.kill("enough", D("0.5"))
            queued = [(c.product_id, c.event) for c in controls.urgent]
            assert [pid for pid, _ in queued] == ["BTC-USD", "ETH-USD"]
            for _, ev in queued:
                assert isinstance(ev, TradingStateChanged)
                assert (ev.state, ev.reason, ev.flatten_offset_pct) == (
                    TradingState.HALTED,
                    "enough",
                    D("0.5"),
                )
            assert controls.run.inbox.get_nowait() is Signal.WAKE
            assert not killed.done()  # done only once every pair handled its control
            for c in controls.urgent:
                assert c.done is not None
                c.done.set_result(None)
            await asyncio.wait_for(killed, 1)
            task.cancel()

    asyncio.run(run())


def test_a_control_is_stamped_on_its_pairs_clock(tmp_path: Path) -> None:
    """The wall clock on a live market (and before the first trade); the pair's market
    time on a replay of old data, so that a journal never mixes the two clocks."""
    with Store(tmp_path / "c.sqlite") as store:
        controls, drivers = controls_on(store, "BTC-USD")
        decision = drivers["BTC-USD"].decision
        before = time.time_ns()
        assert controls.control_ts("BTC-USD") >= before  # no trade yet: the wall clock
        decision.last_ts = 5 * SEC  # a replay of 1970
        assert controls.control_ts("BTC-USD") == 5 * SEC
        decision.last_ts = time.time_ns() - 10 * SEC  # live, 10 s ago
        assert controls.control_ts("BTC-USD") >= before
