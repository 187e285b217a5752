"""Sessions on tradekit sim for the portfolio's tests (tests/engine/test_portfolio_sim.py)
and the fault campaign's (tests/app/test_fault_campaign.py): a config of three pairs with
tight trails, a session in tmp_path, bounded waits, and the checks both make."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.app.campaign import SETTLED
from tradekit.app.session import Session, open_session
from tradekit.config import Config, load_config_dict
from tradekit.core.orders import OrderSide, OrderType
from tradekit.engine.portfolio import PortfolioHandle

SPEED = "200x"
TEST_BOUND_S = 30  # no test may take longer, whatever hangs
PAIRS = ("BTC-USD", "ETH-USD", "SOL-USD")
SIZES = {"BTC-USD": "0.01", "ETH-USD": "0.1", "SOL-USD": "1"}

# A trail of 0.2% with a 0.05% minimum ratchet: several stop moves and exits a second at
# 200x, yet few enough REST calls to stay under the simulator's 30 private requests a
# second (beyond it the adapter backs off on 429 and the engine falls behind the feed).
TRAIL = {
    "trail_pct": "0.002",
    "stop_limit_buffer_pct": "0.001",
    "min_ratchet": "0.0005",
    "max_entry_wait": "3s",
}
PULLBACK = {"rule": "pullback", "pullback_pct": "0.0005", "window": "5m"}
QUICK = {"rule": "fixed_offset", "offset_pct": "0.0002"}  # fills within a few trades
FAR = {"rule": "fixed_offset", "offset_pct": "0.05"}  # 5% below: never fills here
# what an order's status is when no request about it waits for an answer


def pair(pid: str, entry: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"product_id": pid, "size": SIZES[pid], **TRAIL, "entry": entry, **overrides}


def make_config(pairs: list[dict[str, Any]] | None = None, max_open_positions: int = 3) -> Config:
    if pairs is None:
        pairs = [pair("BTC-USD", PULLBACK), pair("ETH-USD", QUICK), pair("SOL-USD", PULLBACK)]
    data = {"portfolio": {"max_open_positions": max_open_positions}, "pairs": pairs}
    return load_config_dict(data, "test", environ={})


@asynccontextmanager
async def session_on(tmp_path: Path, config: Config, **kw: Any) -> AsyncIterator[Session]:
    kw.setdefault("speed", SPEED)
    async with open_session(config, tmp_path / "run.sqlite", **kw) as session:
        assert session.sim is not None and session.sim.host == "127.0.0.1"
        assert session.rest.base_url.startswith("http://127.0.0.1:")
        assert session.feed.url.startswith("ws://127.0.0.1:")
        yield session


def bounded(seconds: float) -> Callable[[Any], Any]:
    """The whole test (cleanup included) under `asyncio.wait_for`."""

    def wrap(test: Any) -> Any:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            await asyncio.wait_for(test(*args, **kwargs), seconds)

        return run

    return wrap


async def eventually(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `cond` (on this loop, between the portfolio's steps) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def ended(handle: PortfolioHandle, timeout: float) -> None:
    """Wait for the run to end by itself (`asyncio.wait`: a timeout must not cancel it)."""
    done, _ = await asyncio.wait({handle.task}, timeout=timeout)
    assert done, f"the portfolio still runs after {timeout} s"


def stop_market(session: Session) -> None:
    """Stop the simulator's price driver (the task `start_market` made on its loop)."""

    async def cancel() -> int:
        found = [t for t in asyncio.all_tasks() if t.get_name() == "sim-market"]
        for task in found:
            task.cancel()
        return len(found)

    assert session.sim.run_coroutine(cancel()) == 1


async def quiesce(session: Session, timeout: float = 5.0, *, lossy: bool = False) -> None:
    """Stop the market, then wait until the engine has handled every event it caused:
    no order of its own in flight (a placement or cancel waiting for its answer), each
    pair's last price the exchange's (unless the feed was `lossy`: a lost trade is never
    sent again), and no feed event for 0.4 s."""
    stop_market(session)
    pf = session.portfolio
    last = session.sim.call(lambda st: {pid: st.exchange.last_price(pid) for pid in PAIRS})
    seen = [pf.stats.messages, time.monotonic()]

    def quiet() -> bool:
        if pf.stats.messages != seen[0]:
            seen[:] = [pf.stats.messages, time.monotonic()]
            return False
        settled = all(
            o.status in SETTLED for d in pf.drivers.values() for o in d.decision.orders.values()
        )
        caught_up = lossy or all(
            d.decision.last_price == last[pid] for pid, d in pf.drivers.items()
        )
        caught_up = caught_up and not pf.behind  # late trades decided on, too
        return settled and caught_up and time.monotonic() - seen[1] > 0.4

    await eventually(quiet, timeout, "the engine caught up with the stopped market")


def open_orders(session: Session, pid: str) -> list[Any]:
    return session.sim.call(lambda st: st.exchange.list_open_orders(pid))


def assert_every_position_protected(session: Session) -> int:
    """Every position the store says is open has exactly one live stop at the exchange,
    at the engine's trigger and for the open size; no other pair has a stop. Returns the
    number of open positions."""
    pf, store = session.portfolio, session.store
    open_pids = {p["product_id"] for p in store.open_positions()}
    assert len(store.open_positions()) == len(open_pids)  # one open position per pair
    for pid, driver in pf.drivers.items():
        d = driver.decision
        stops = [o for o in open_orders(session, pid) if o.order_type is OrderType.STOP_LIMIT]
        if pid not in open_pids:
            assert d.position is None, pid
            assert stops == [], f"{pid}: a stop rests with no open position"
            continue
        pos = d.position
        assert pos is not None, pid
        if d.exit is not None:  # the stop could not rest or was gapped through: it exits
            exits = [
                o for o in open_orders(session, pid) if o.client_order_id == d.exit.client_order_id
            ]
            assert stops == [] and len(exits) == 1, (pid, d.protection_state, stops, exits)
            (ex,) = exits
            assert ex.side is OrderSide.SELL, ex
            assert ex.size - ex.filled_size == pos.open_size, (
                pid,
                ex.size,
                ex.filled_size,
                pos.open_size,
                d.protection_state,
            )
            continue
        assert len(stops) == 1, (
            f"{pid}: {len(stops)} live stops for one position "
            f"(protection {d.protection_state.value}, engine stop {d.stop}, "
            f"open orders {open_orders(session, pid)})"
        )
        (stop,) = stops
        assert stop.side is OrderSide.SELL
        assert stop.client_order_id.startswith(d.id_prefix + "-")
        assert stop.stop_price == pos.stop_trigger
        assert stop.size == pos.open_size
        assert store.stop_history(pid)[-1]["trigger"] == pos.stop_trigger
        assert d.stop is not None and d.stop.order_id == stop.order_id
    return len(open_pids)


def commands(session: Session, type_name: str, pid: str | None = None) -> list[dict[str, Any]]:
    return [
        r for r in session.store.journal(product_id=pid, kinds="command") if r["type"] == type_name
    ]


def state_changes(session: Session, pid: str, state: str) -> list[dict[str, Any]]:
    return [
        r
        for r in session.store.journal(product_id=pid, kinds="event")
        if r["type"] == "TradingStateChanged" and r["payload"]["state"] == state
    ]


def exchange_fills_by_order(session: Session) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in session.sim.call(lambda st: st.exchange.list_fills()):
        out.setdefault(f.order_id, []).append(f)
    return out


def orders_match_exchange(session: Session) -> bool:
    by_order = exchange_fills_by_order(session)
    for o in session.store.order_history():
        fills = by_order.get(o["order_id"], []) if o["order_id"] else []
        if o["filled_size"] != sum((f.size for f in fills), Decimal(0)):
            return False
    return True
