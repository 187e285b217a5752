"""The session handle: opened with one await, held across cells, closed with one await
(or by the process's end); controls on a stopped portfolio are refused with a reason;
control events carry market time on historical data."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from tradekit.config import load_config_dict
from tradekit.core.events import MarketTrade
from tradekit.data.generators import PricePath
from tradekit.demo import DemoSetup
from tradekit.engine.portfolio import Portfolio
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.paper import PaperExchange
from tradekit.store.sqlite import Store

SEC = 10**9
TRAIL = {"trail_pct": "0.002", "stop_limit_buffer_pct": "0.001", "max_entry_wait": "3s"}
CONFIG = {
    "portfolio": {"max_open_positions": 1},
    "pairs": [
        {"product_id": pid, "size": size, **TRAIL,
         "entry": {"rule": "fixed_offset", "offset_pct": "0.0002"}}
        for pid, size in (("BTC-USD", "0.01"), ("ETH-USD", "0.1"))
    ],
}  # fmt: skip


def test_a_session_is_opened_held_and_closed_with_one_await_each():
    import tradekit

    config = load_config_dict(CONFIG, "test", environ={})

    async def run() -> dict:
        session = await tradekit.open_session(config, speed="100x")
        assert session.sim.host == "127.0.0.1" and session.db_path is None
        tmp = Path(session._tmp.name)
        assert tmp.exists()
        handle = session.start()
        assert session.start() is handle  # one run per session
        # with max_open_positions = 1 the second pair's entry is refused: waited for,
        # without polling
        refusal = await asyncio.wait_for(session.first_report("EntrySkipped"), 20)
        await session.portfolio.pause("ETH-USD")  # handled when awaited
        state = session.portfolio.pair_status("ETH-USD")["state"]
        await session.close()
        await session.close()  # twice is fine
        return {
            "refusal": refusal,
            "state": state,
            "sim running": session.sim.running,
            "tmp": tmp.exists(),
            "portfolio running": session.portfolio.running,
            "repr": repr(session),
            "session": session,
        }

    out = asyncio.run(run())
    assert "max open positions" in out["refusal"]["payload"]["reason"]
    assert out["state"] == "PAUSED"
    assert not out["sim running"] and not out["tmp"] and not out["portfolio running"]
    assert out["repr"].startswith("Session(2 pairs, closed, tradekit sim at http://127.0.0.1:")
    with pytest.raises(RuntimeError, match="closed"):
        out["session"].start()


def test_the_end_of_the_process_closes_an_open_session(tmp_path):
    """A kernel shut down with the session open: the exit hook stops the simulator and
    closes the store (SQLite removes the WAL file when the last connection closes)."""
    db = tmp_path / "run.sqlite"
    script = textwrap.dedent(
        f"""
        import asyncio, json
        from tradekit.app import open_session
        from tradekit.config import load_config_dict

        async def main():
            config = load_config_dict({CONFIG!r}, "t", environ={{}})
            session = await open_session(config, {str(db)!r}, speed="100x")
            session.start()
            await asyncio.sleep(1.0)
            print(json.dumps({{"wal": __import__("os").path.exists({str(db)!r} + "-wal")}}))
            # no close: the process ends here, as a kernel does at shutdown

        asyncio.run(main())
        """
    )
    proc = subprocess.run(  # bounded by its timeout, not by an assertion on the clock
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert '"wal": true' in proc.stdout  # it was open while running
    assert not Path(f"{db}-wal").exists()  # and closed at exit
    with Store(db) as store:
        assert store.journal()  # what it did is there


def _portfolio(store: Store, trades: list[MarketTrade]) -> Portfolio:
    async def feed() -> AsyncIterator[MarketTrade]:
        for i, t in enumerate(trades):
            yield t
            if i % 20 == 19:
                await asyncio.sleep(0.001)

    decision = (
        DemoSetup(seed=9, ticks=10, size=D("0.01"), pullback_pct=D("0.002"))
        .engine(store, None, "s")
        .decision
    )
    paper = PaperExchange(balances={"USD": D("1000000")})
    return Portfolio([decision], AsyncExchange(paper), store, feed())


def test_controls_on_historical_data_carry_market_time_and_are_refused_once_stopped(tmp_path):
    # a replay of 2024: the journal must not mix its clock with today's
    trades = PricePath("BTC-USD", D("60000"), 50_000, seed=4, tick_ns=SEC).to_list()

    async def run() -> tuple[list[dict], int, int, str]:
        with Store(tmp_path / "h.sqlite") as store:
            pf = _portfolio(store, trades)
            with pytest.raises(RuntimeError, match="never started"):
                pf.pause("BTC-USD")
            handle = pf.start()
            while pf.stats.messages < 200:
                await asyncio.sleep(0.005)
            await pf.pause("BTC-USD")
            await asyncio.sleep(0.01)
            await pf.resume("BTC-USD")
            market_ts = pf.drivers["BTC-USD"].decision.last_ts
            await handle.stop()
            with pytest.raises(RuntimeError) as refused:
                pf.pause("BTC-USD")
            with pytest.raises(RuntimeError):
                pf.kill()
            with pytest.raises(KeyError, match="no pair 'DOGE-USD'"):
                pf.pause("DOGE-USD")
            events = [r for r in store.journal(kinds="event") if r["type"] == "TradingStateChanged"]
            return events, market_ts, trades[0].ts, str(refused.value)

    events, market_ts, first_ts, refused = asyncio.run(run())
    assert [e["payload"]["state"] for e in events] == ["PAUSED", "ACTIVE"]
    for e in events:
        assert first_ts <= e["ts"] <= market_ts  # market time, not the wall clock
    assert "the portfolio has stopped" in refused and "BTC-USD" in refused
