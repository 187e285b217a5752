"""The client-side rate limiter, driven by a fake clock (never wall time)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tradekit.exchange.coinbase._async import rest as async_rest
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.exchange.coinbase.pacing import PRIVATE_PER_S, PUBLIC_PER_S, Pacer, shared_pacer
from tradekit.sim.server import SimServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_coinbase_documented_rates_are_the_defaults():
    assert (PRIVATE_PER_S, PUBLIC_PER_S) == (30.0, 10.0)


def test_a_burst_is_spread_one_turn_apart_never_refused():
    clock = FakeClock()
    pacer = Pacer(10.0, clock)
    waits = [pacer.reserve() for _ in range(15)]  # at one instant
    assert waits[:10] == [0.0] * 10  # one second's worth goes at once
    assert waits[10:] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])  # then queued 1/rate apart
    clock.now += 0.5  # the queue drained exactly
    assert pacer.reserve() == pytest.approx(0.1)
    clock.now += 10  # idle: the bucket is full again, no more
    assert [pacer.reserve() for _ in range(10)] == [0.0] * 10
    assert pacer.reserve() == pytest.approx(0.1)


def test_a_steady_rate_at_the_limit_never_waits():
    clock = FakeClock()
    pacer = Pacer(30.0, clock)
    for _ in range(300):
        assert pacer.reserve() == 0.0
        clock.now += 1 / 30


def test_an_announced_limit_is_followed():
    clock = FakeClock()
    pacer = Pacer(30.0, clock)
    pacer.announce(5.0)  # the burst shrinks at once
    assert [pacer.reserve() for _ in range(6)][-1] == pytest.approx(0.2)
    pacer.announce(0)  # nonsense is ignored
    assert pacer.rate == 5.0
    clock.now += 10
    pacer.announce(5.0, remaining=2)  # the server has two turns left for this key
    assert [pacer.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.2])
    with pytest.raises(ValueError):
        Pacer(0)


def test_one_pacer_per_key_shared_by_every_adapter(tmp_path: Path):
    from tradekit.sim.auth import generate_key

    name, pem, _ = generate_key()
    creds = Credentials(name, pem)
    sync = CoinbaseRest(creds, "http://127.0.0.1:9")
    aio = AsyncCoinbaseRest(creds, "http://127.0.0.1:9")
    try:
        assert sync._private_pacer is aio._private_pacer is shared_pacer(f"key:{name}", 1)
        assert sync._public_pacer is aio._public_pacer
        other = CoinbaseRest(Credentials(*generate_key()[:2]), "http://127.0.0.1:9")
        assert other._private_pacer is not sync._private_pacer
        other.close()
    finally:
        sync.close()
        asyncio.run(aio.aclose())


def test_the_adapter_waits_its_turn_on_a_fake_clock(tmp_path: Path, monkeypatch):
    """40 calls at a 50/s server: the first reply announces 50/s, the burst beyond the
    client's bucket waits 1/50 s per call, on the fake clock only."""
    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(async_rest, "sleep", fake_sleep)
    with SimServer(
        keys_file=tmp_path / "key.json", rate_limit_per_s=50.0, public_rate_limit_per_s=1e5
    ) as sim:
        assert sim.keys_file is not None
        creds = Credentials.from_file(sim.keys_file)

        async def run() -> AsyncCoinbaseRest:
            async with AsyncCoinbaseRest(creds, sim.base_url, clock=clock) as rest:
                for _ in range(40):
                    assert "USD" in await rest.balances()
                return rest

        rest = asyncio.run(run())
    assert rest.stats["retries"] == 0
    # 30 at once (the default burst, 29 left after the first reply), then 10 waits
    assert slept == pytest.approx([0.02] * 10)
    assert rest.paced_s == pytest.approx(0.2)


# -- protective requests first -----------------------------------------------------------


def drained(clock: FakeClock, rate: float = 10.0) -> Pacer:
    pacer = Pacer(rate, clock)
    for _ in range(int(rate)):
        assert pacer.reserve() == 0.0  # the burst is used up
    return pacer


def test_a_protective_ticket_goes_ahead_of_routine_ones_waiting():
    from tradekit.exchange.coinbase.pacing import Priority

    clock = FakeClock()
    pacer = drained(clock)
    routine = [pacer.enter(Priority.ROUTINE) for _ in range(5)]  # polls, entries
    stop = pacer.enter(Priority.PROTECT)  # a stop's re-placement, last to arrive
    assert pacer.turn(stop) == pytest.approx(0.1)  # next: one turn away
    assert pacer.turn(routine[0]) == pytest.approx(0.2)  # pushed back by the stop
    clock.now += 0.1
    assert pacer.turn(routine[0]) > 0  # the turn is the stop's, not the first comer's
    assert pacer.turn(stop) == 0.0
    clock.now += 0.1
    assert pacer.turn(routine[0]) == 0.0
    assert pacer.waiting == 4


def test_one_budget_for_all_priorities():
    """Priorities reorder the queue, they never add turns: 20 tickets of both kinds at
    10/s after the burst take 2 s of the fake clock, protective ones all first."""
    from tradekit.exchange.coinbase.pacing import Priority

    clock = FakeClock()
    pacer = drained(clock)
    tickets = [pacer.enter(Priority(i % 2)) for i in range(20)]
    served: list[tuple[float, int]] = []
    while len(served) < 20:
        clock.now += 0.01
        for t in tickets:
            if t not in [s[1] for s in served] and pacer.turn(t) == 0.0:
                served.append((clock.now, t))
    assert served[-1][0] - 1000.0 == pytest.approx(2.0, abs=0.02)
    assert [t[0] for _, t in served] == [0] * 10 + [1] * 10


def test_a_ticket_given_up_frees_its_place():
    from tradekit.exchange.coinbase.pacing import Priority

    clock = FakeClock()
    pacer = drained(clock)
    first = pacer.enter(Priority.PROTECT)
    second = pacer.enter(Priority.ROUTINE)
    assert pacer.turn(second) == pytest.approx(0.2)
    pacer.leave(first)  # its caller was cancelled
    assert pacer.turn(second) == pytest.approx(0.1)


def test_commands_carry_their_priority():
    from tradekit.core.commands import (
        CancelOrder,
        CancelReason,
        PlaceLimitBuy,
        PlaceLimitSell,
        PlaceStopLimitSell,
        QueryOrder,
    )
    from tradekit.exchange.coinbase.pacing import Priority, priority_of

    D = __import__("decimal").Decimal
    stop = PlaceStopLimitSell("s", "BTC-USD", D(1), D(90), D(89), 0, replaces="s0")
    assert priority_of(stop) is Priority.PROTECT
    assert priority_of(PlaceLimitSell("x", "BTC-USD", D(1), D(90), 0)) is Priority.PROTECT
    assert priority_of(PlaceLimitBuy("e", "BTC-USD", D(1), D(90), 0)) is Priority.ROUTINE
    assert priority_of(QueryOrder("e", "1", 0)) is Priority.ROUTINE
    for reason in CancelReason:
        want = (
            Priority.ROUTINE
            if reason
            in (CancelReason.ENTRY_TIMEOUT, CancelReason.KILL, CancelReason.STOP_TRIGGERED)
            else Priority.PROTECT
        )
        assert priority_of(CancelOrder("s0", "1", reason, 0, then=None)) is want, reason


def test_the_driver_sends_each_command_s_requests_with_its_priority(tmp_path: Path):
    """The adapter reads the priority from the context the driver sets per command."""
    from decimal import Decimal as D

    from tradekit.core.commands import CancelOrder, CancelReason, PlaceLimitBuy, QueryOrder
    from tradekit.core.commands import PlaceStopLimitSell as Stop
    from tradekit.core.decision import DecisionEngine
    from tradekit.core.entry import FixedOffsetEntry
    from tradekit.demo import DemoSetup
    from tradekit.engine._async.driver import AsyncPairDriver
    from tradekit.exchange.coinbase.pacing import Priority, current_priority
    from tradekit.exchange.types import CancelResult, PlaceResult
    from tradekit.store.sqlite import Store

    seen: list[tuple[str, Priority]] = []

    class Recording:
        can_edit_stops = False

        async def place_limit_buy(self, coid: str, *a: object) -> PlaceResult:
            seen.append(("buy", current_priority()))
            return PlaceResult(True, coid, "1")

        async def place_stop_limit(self, coid: str, *a: object) -> PlaceResult:
            seen.append(("stop", current_priority()))
            return PlaceResult(True, coid, "2")

        async def cancel_order(self, order_id: str) -> CancelResult:
            seen.append(("cancel", current_priority()))
            return CancelResult(order_id, False, "UNKNOWN")

        async def get_order(self, order_id: str) -> None:
            seen.append(("lookup", current_priority()))

        async def list_fills(self, order_id: str | None = None) -> list[object]:
            return []

    setup = DemoSetup(product_id="BTC-USD", size=D("0.01"))
    decision = DecisionEngine(setup.params(), FixedOffsetEntry(D("0.001")), "p")
    with Store(tmp_path / "p.sqlite") as store:
        driver = AsyncPairDriver(decision, Recording(), store)

        async def run() -> None:
            await driver.perform(PlaceLimitBuy("p-1", "BTC-USD", D("0.01"), D(100), 0))
            await driver.perform(Stop("p-2", "BTC-USD", D("0.01"), D(90), D(89), 0))
            await driver.perform(CancelOrder("p-2", "2", CancelReason.STOP_MOVE, 0))
            await driver.perform(CancelOrder("p-1", "1", CancelReason.ENTRY_TIMEOUT, 0))
            # a refused cancel is settled by the core's lookup: protective for a stop
            await driver.perform(QueryOrder("p-2", "2", 0, protective=True))
            await driver.perform(QueryOrder("p-1", "1", 0))

        asyncio.run(run())
    assert current_priority() is Priority.ROUTINE  # nothing leaks out
    assert seen == [
        ("buy", Priority.ROUTINE),
        ("stop", Priority.PROTECT),
        ("cancel", Priority.PROTECT),
        ("cancel", Priority.ROUTINE),
        ("lookup", Priority.PROTECT),
        ("lookup", Priority.ROUTINE),
    ]


def test_a_protective_request_refused_with_429_keeps_its_turn(tmp_path: Path, monkeypatch):
    """Every call refused with 429 (and "none left"): a routine call gives up after its
    attempts with back-off; a protective one is sent again at each next turn of the
    pacer (one interval of the limit apart, no back-off) PROTECTIVE_429_RETRIES times
    more before it does. On the fake clock only."""
    from tradekit.exchange.coinbase._async.rest import PROTECTIVE_429_RETRIES
    from tradekit.exchange.coinbase.common import RateLimited
    from tradekit.exchange.coinbase.pacing import Priority, request_priority

    clock = FakeClock()
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(async_rest, "sleep", fake_sleep)
    with SimServer(keys_file=tmp_path / "key.json", rate_limit_per_s=1e5) as sim:
        assert sim.keys_file is not None
        creds = Credentials.from_file(sim.keys_file)
        sim.call(lambda st: st.faults.update({"rest_429_rate": 1.0}))

        async def run(priority: Priority) -> tuple[int, float]:
            async with AsyncCoinbaseRest(creds, sim.base_url, clock=clock) as rest:
                start = clock.now
                with request_priority(priority), pytest.raises(RateLimited):
                    await rest.balances()
                return rest.stats["requests"], clock.now - start

        routine, _ = asyncio.run(run(Priority.ROUTINE))
        slept.clear()
        protective, _ = asyncio.run(run(Priority.PROTECT))
    assert routine == 5
    assert protective == 5 + PROTECTIVE_429_RETRIES
    # the protective retries wait their turn only: about one interval of the limit each
    assert max(slept[:PROTECTIVE_429_RETRIES]) < 0.1
