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
