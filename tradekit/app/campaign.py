"""Reliability campaigns: a live portfolio on tradekit sim through faults and kills.

    python -m tradekit.app.campaign                        # the full campaign (~10 min)
    python -m tradekit.app.campaign --kills 5 --seconds 3 --speeds 40x   # a quick one

**Faults.** Every scenario of `SCENARIOS` (a REST outage, a 20 % 5xx rate, timeouts,
a burst of 429s, lost replies on any call, on placements, on cancels, WebSocket drops
with skipped and duplicated sequence numbers, and all of them at once) runs at each
market speed (1x and 40x): the portfolio trades through the faults for `seconds`, the
faults stop, the market stops, and the run settles. Figures per scenario: whether the
run survived (never exited), the faults the simulator injected (in all and by kind),
pairs degraded, faults seen by the feed (reconnects, gaps, duplicates), duplicate client
order ids at the exchange, fills the store lacks or has in excess, positions without a
stop or an exit at the end, the longest unprotected interval (a stop's cancel-then-place,
wall time), the largest decision lag (a trade's receipt to the end of the commands it
caused, their REST calls included) and the largest and 99th percentile decision wait (a
trade's receipt to the moment its pair decided on it: how old the price was), the trades
only observed (`superseded` by a newer one waiting, or `deferred` as too old), and the
REST requests made and the time they waited for a turn under the rate limit.

**Kills.** `tradekit run` in a child process, SIGKILLed at a seeded random moment, again
and again on the same store and the same simulator state; then one clean run, and the
store is compared with the exchange (every order's fills, no id used twice, every open
position protected).

The test suite runs the same fault scenarios in a few seconds each
(tests/engine/test_fault_campaign.py); this module is the full-size run.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.app.session import Session, open_session
from tradekit.config import Config, load_config, load_config_dict
from tradekit.core.events import MarketTrade
from tradekit.core.orders import OrderStatus

WS = {"ws_drop_after": 200, "ws_skip_seq": 0.01, "ws_dup_seq": 0.02, "ws_drop_rate": 0.003}
SCENARIOS: dict[str, dict[str, Any]] = {
    "rest-outage": {"rest_error_rate": 1.0},
    "rest-5xx-20pct": {"rest_error_rate": 0.2},
    "rest-timeouts": {"timeout_rate": 0.1, "timeout_s": 1.0},
    # most calls refused with 429 (headers: nothing left): the adapter's retries get some
    # through, many run out of attempts (0.8 ** 5 = a third) and degrade their pair
    "rest-429-burst": {"rest_429_rate": 0.8},
    "lost-replies": {"lose_reply_rate": 0.2},
    "lost-placement-replies": {"lose_reply_rate": 0.5, "only": "POST /orders"},
    "lost-cancel-replies": {"lose_reply_rate": 0.5, "only": "POST /orders/batch_cancel"},
    "websocket": WS,
    # a real outage: REST refuses everything while the WebSocket keeps dropping
    "rest-and-ws-down": {"rest_error_rate": 1.0, "ws_drop_after": 50},
    "lost-edit-replies": {"lose_reply_rate": 0.5, "only": "POST /orders/edit"},
    "all-at-once": {
        "rest_error_rate": 0.1,
        "rest_429_rate": 0.1,
        "lose_reply_rate": 0.1,
        "timeout_rate": 0.05,
        "timeout_s": 1.0,
        **WS,
    },
}
SCENARIOS["all-at-once-no-edits"] = SCENARIOS["all-at-once"]
# Scenarios on an exchange that refuses stop edits (as Coinbase may for a product): the
# engine learns it from the first refusal and moves its stops by cancel-then-place, so
# the cancels these scenarios lose, and the gaps they open, happen at all.
WITHOUT_EDITS = frozenset({"lost-cancel-replies", "all-at-once-no-edits"})
# Scenarios of what an operator meets besides faults: each is an action on the running
# session (see `ACTIONS`); the market's own trades go on meanwhile.
OUTAGES: dict[str, str] = {
    "old-trades-after-restart": "old_trades_after_restart",
    "old-trades-after-reconnect": "old_trades_after_reconnect",
    "dust-prints": "dust_prints",
    "clean-stop-entries-resting": "clean_stop",
}
OLD_S = 600  # old trades: ten minutes old ...
OLD_UP = Decimal("1.03")  # ... and 3 % above the market
DUST = Decimal("0.00000001")  # dust-sized outlier prints ...
DUST_UP = Decimal("1.10")  # ... 10 % above the market, three within 25 ms
CLEAR = {
    "rest_error_rate": 0.0,
    "rest_429_rate": 0.0,
    "lose_reply_rate": 0.0,
    "timeout_rate": 0.0,
    "only": None,
    "ws_drop_after": None,
    "ws_skip_seq": 0.0,
    "ws_dup_seq": 0.0,
    "ws_drop_rate": 0.0,
}
SETTLED = {
    OrderStatus.OPEN,
    OrderStatus.FILLED,
    OrderStatus.CANCELLED,
    OrderStatus.EXPIRED,
    OrderStatus.FAILED,
    OrderStatus.REJECTED,
}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "portfolio.toml"


def campaign_config() -> Config:
    """Three pairs that trade often on the simulator's default market."""
    trail = {"trail_pct": "0.002", "stop_limit_buffer_pct": "0.002", "max_entry_wait": "20s"}
    pairs = [
        {"product_id": pid, "size": size, **trail, "entry": {"rule": "fixed_offset",
                                                              "offset_pct": "0.0002"}}
        for pid, size in (("BTC-USD", "0.01"), ("ETH-USD", "0.1"), ("SOL-USD", "1"))
    ]  # fmt: skip
    return load_config_dict({"pairs": pairs}, "campaign", environ={})


async def _until(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def compare(session: Session) -> dict[str, int]:
    """The store against the exchange: fills missing or extra per order, ids used
    twice, open positions with neither a stop nor an exit at the exchange."""
    sim = session.sim
    assert sim is not None
    fills = sim.call(lambda st: st.exchange.list_fills())
    orders = sim.call(lambda st: st.exchange.list_orders())
    by_order: dict[str, Decimal] = {}
    for f in fills:
        by_order[f.order_id] = by_order.get(f.order_id, Decimal(0)) + f.size
    lost = extra = 0
    for o in session.store.order_history():
        have = by_order.get(o["order_id"], Decimal(0)) if o["order_id"] else Decimal(0)
        if o["filled_size"] < have:
            lost += 1
        elif o["filled_size"] > have:
            extra += 1
    dup = sum(n - 1 for n in Counter(o.client_order_id for o in orders).values())
    open_ids = {o.client_order_id for o in orders if not o.status.is_terminal}
    unprotected = 0
    for driver in session.portfolio.drivers.values():
        d = driver.decision
        if d.position is None or d.position.open_size <= 0 or d.protection.dust:
            continue
        live = [o for o in (d.stop, d.exit) if o is not None and o.client_order_id in open_ids]
        unprotected += not live
    return {"fills_lost": lost, "fills_extra": extra, "duplicate_ids": dup,
            "unprotected_at_end": unprotected}  # fmt: skip


class StopWatch:
    """No stop above the market at any moment: every stop the engine asks for (placed or
    moved) is compared, when it is asked for, with the real market of its pair: the
    highest price the simulated market printed over the last second (wall time; the
    campaign's fake prints go to the feed only, never into the market). A stop above
    all of them was computed from a price the market does not have."""

    WINDOW_S = 1.0

    def __init__(self) -> None:
        self.violations = 0
        self.worst_pct = Decimal(0)
        self._real: dict[str, deque[tuple[float, Decimal]]] = {}
        self._session: Session | None = None
        self._unwatch: Any = None
        self._task: asyncio.Task[None] | None = None

    def attach(self, session: Session) -> None:
        self.detach()
        self._session = session
        self._unwatch = session.portfolio.watch(self._on_step)
        self._task = asyncio.ensure_future(self._sample())

    def detach(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _last_real(self, pid: str) -> Decimal | None:
        assert self._session is not None and self._session.sim is not None
        history = self._session.sim.state.history.get(pid)  # a read across threads
        last = None if history is None else history.last
        return None if last is None else last.price

    async def _sample(self) -> None:
        assert self._session is not None
        while True:
            now = time.monotonic()
            for pid in self._session.portfolio.drivers:
                price = self._last_real(pid)
                if price is not None:
                    seen = self._real.setdefault(pid, deque())
                    seen.append((now, price))
                    while seen and now - seen[0][0] > self.WINDOW_S:
                        seen.popleft()
            await asyncio.sleep(0.02)

    def _on_step(self, pid: str, step: Any) -> None:
        now = time.monotonic()
        prices = [p for t, p in self._real.get(pid, ()) if now - t <= self.WINDOW_S]
        latest = self._last_real(pid)
        if latest is not None:
            prices.append(latest)
        if not prices:
            return
        market = max(prices)
        for c in step.commands:
            stop = getattr(c, "stop_price", None)
            if stop is None or type(c).__name__ not in ("PlaceStopLimitSell", "EditStopOrder"):
                continue
            if stop > market:
                self.violations += 1
                self.worst_pct = max(self.worst_pct, (stop / market - 1) * 100)


def _real_price(session: Session, pid: str) -> Decimal:
    assert session.sim is not None
    last = session.sim.call(lambda st: st.history[pid].last)
    return Decimal(last.price)


def _publish(session: Session, trades: list[MarketTrade]) -> None:
    """Trades to the WebSocket feed only (as a replay or a bad print arrives), never into
    the simulated market: the exchange's book and fills stay the real market's."""
    from tradekit.sim.state import BusMessage

    assert session.sim is not None

    def publish(st: Any) -> None:
        for t in trades:
            st.bus.publish(BusMessage("trade", t.product_id, t, t.ts))

    session.sim.call(publish)


def _held(session: Session) -> str | None:
    """A pair holding a position with its stop resting, if any."""
    for pid, d in session.portfolio.drivers.items():
        pos = d.decision.position
        if pos is not None and pos.open_size > 0 and d.decision.stop is not None:
            return pid
    return None


def _old_trades(session: Session, pid: str) -> list[MarketTrade]:
    price = _real_price(session, pid) * OLD_UP
    then = time.time_ns() - OLD_S * 10**9
    return [MarketTrade(pid, price, Decimal("0.5"), then + i * 10**6, f"old-{i}") for i in range(5)]


async def old_trades_after_restart(s: Session, speed: str, db: Path) -> Session:
    """A position held, a restart, and the first trades the exchange sends are ten
    minutes old and 3 % higher."""
    pid = _held(s) or await _wait_for(lambda: _held(s), 30) or next(iter(s.portfolio.drivers))
    await s.close()
    s = await open_session(campaign_config(), db, speed=speed)
    s.start()
    feed = s.feed.stats
    await _until(lambda: feed.messages > 0, 20)  # subscribed: what comes first is old
    _publish(s, _old_trades(s, pid))
    return s


async def old_trades_after_reconnect(s: Session, speed: str, db: Path) -> Session:
    """A position held, the WebSocket dropped, and the first trades after the reconnect
    are ten minutes old and 3 % higher."""
    assert s.sim is not None
    pid = _held(s) or await _wait_for(lambda: _held(s), 30) or next(iter(s.portfolio.drivers))
    feed = s.feed.stats
    before = feed.reconnects
    s.sim.call(lambda st: st.faults.update({"ws_drop_after": 0}))
    await _until(lambda: feed.reconnects > before, 20)
    s.sim.call(lambda st: st.faults.update({"ws_drop_after": None}))
    await asyncio.sleep(0.2)  # a connection dropped meanwhile has come back
    after = (feed.reconnects, feed.messages)
    await _until(lambda: feed.reconnects == after[0] and feed.messages >= after[1] + 3, 20)
    _publish(s, _old_trades(s, pid))  # the first news after the reconnect
    return s


async def dust_prints(s: Session, speed: str, db: Path) -> Session:
    """Three prints of 1e-8 at +10 % within 25 ms, on a pair holding a position."""
    pid = _held(s) or await _wait_for(lambda: _held(s), 30) or next(iter(s.portfolio.drivers))
    price = _real_price(s, pid) * DUST_UP
    assert s.sim is not None
    for i in range(3):  # each the newest print when it is sent
        ts = s.sim.call(lambda st: st.now())
        _publish(s, [MarketTrade(pid, price, DUST, ts, f"dust-{i}")])
        await asyncio.sleep(0.012)
    return s


async def clean_stop(s: Session, speed: str, db: Path) -> Session:
    """A clean stop while entries rest; then the next start (the run goes on)."""

    def resting_entry() -> str | None:
        for pid, d in s.portfolio.drivers.items():
            e = d.decision.entry
            if e is not None and e.order_id is not None and e.status is OrderStatus.OPEN:
                return pid
        return None

    await _wait_for(resting_entry, 30)
    await s.close()  # the default: resting entries cancelled
    s = await open_session(campaign_config(), db, speed=speed)
    assert s.sim is not None
    ids = {o["client_order_id"] for o in s.store.order_history() if o["side"] == "BUY"}
    left = s.sim.call(
        lambda st: [
            o.client_order_id for o in st.exchange.list_orders()
            if o.client_order_id in ids and not o.status.is_terminal
        ]
    )  # fmt: skip
    s.entries_left_resting = len(left)  # type: ignore[attr-defined]
    s.start()
    return s


ACTIONS = {
    "old_trades_after_restart": old_trades_after_restart,
    "old_trades_after_reconnect": old_trades_after_reconnect,
    "dust_prints": dust_prints,
    "clean_stop": clean_stop,
}


async def _wait_for(find: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while (found := find()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return found


async def fault_scenario(
    name: str, speed: str, seconds: float, tmp: Path, check: Any = None
) -> dict[str, Any]:
    """One scenario at one market speed; its figures (see the module docstring).
    `check(session)`, if given, runs on the settled session before it closes."""
    faults = SCENARIOS.get(name, {})
    action = ACTIONS[OUTAGES[name]] if name in OUTAGES else None
    db = tmp / f"{name}-{speed}.sqlite"
    watch = StopWatch()
    s = await open_session(campaign_config(), db, speed=speed)
    try:
        assert s.sim is not None
        if name in WITHOUT_EDITS:
            s.sim.call(lambda st: setattr(st, "edit_stop_enabled", False))
        s.start()
        watch.attach(s)
        await _until(lambda: s.portfolio.stats.commands >= 4, 20)
        struck_before = s.sim.call(lambda st: Counter(st.faults_injected))
        s.sim.call(lambda st: st.faults.update(faults))
        if action is not None:
            s = await action(s, speed, db)
            watch.attach(s)
            struck_before = Counter()
        pf = s.portfolio
        handle = s.handle
        assert handle is not None and s.sim is not None
        degraded: set[str] = set()
        end = time.monotonic() + seconds
        while time.monotonic() < end and handle.running:
            degraded |= {pid for pid, h in pf.health.items() if h.degraded}
            await asyncio.sleep(0.05)
        s.sim.call(lambda st: st.faults.update(CLEAR))
        struck = s.sim.call(lambda st: Counter(st.faults_injected)) - struck_before
        healed = await _until(lambda: not any(h.degraded for h in pf.health.values()), 60)

        async def stop_market() -> None:
            for task in asyncio.all_tasks():
                if task.get_name() == "sim-market":
                    task.cancel()

        s.sim.run_coroutine(stop_market())

        def quiet() -> bool:  # no request of ours unanswered, no late trade undecided
            return not pf.behind and all(
                o.status in SETTLED for d in pf.drivers.values() for o in d.decision.orders.values()
            )

        settled = await _until(quiet, 30)
        await asyncio.sleep(1.0)  # the last user-channel messages and polls
        # compared in the same step as the last check that nothing is in flight (a fill
        # found late may have started a placement the exchange has and we do not yet)
        settled = settled and await _until(quiet, 30)
        figures = compare(s)
        if check is not None:
            check(s)
        survived = handle.running and handle.exception is None
        gaps = [g for d in pf.drivers.values() for g in d.unprotected_s]
        lags = list(pf.stats.latencies_ms)
        waits = list(pf.stats.decision_waits_ms)
        feed = s.feed.stats
        ignored = sum(1 for r in s.store.journal(kinds="report") if r["type"] == "PrintIgnored")
        left = getattr(s, "entries_left_resting", 0)
        watch.detach()
        await handle.stop()
    finally:
        watch.detach()
        await s.close()
    return {
        "scenario": name,
        "speed": speed,
        "survived": survived and healed and settled,
        "faults_injected": sum(struck.values()),
        "faults_by_kind": dict(sorted(struck.items())),
        "pairs_degraded": len(degraded),
        "reconnects": feed.reconnects,
        "gaps": feed.gaps,
        "duplicates_seen": feed.duplicates,
        "resync_failures": feed.resync_failures,
        **figures,
        "stops_above_market": watch.violations,
        "worst_stop_above_market_pct": float(round(watch.worst_pct, 3)),
        "entries_left_resting": left,
        "longest_unprotected_ms": round(max(gaps, default=0.0) * 1000, 1),
        "largest_decision_lag_ms": round(max(lags, default=0.0), 1),
        "largest_decision_wait_ms": round(max(waits, default=0.0), 1),
        "p99_decision_wait_ms": round(_p99(waits), 1),
        "superseded": pf.stats.superseded,
        "deferred": pf.stats.deferred,
        "old_trades_ignored": pf.stats.too_old + feed.stale_trades,
        "prints_ignored": ignored,
        "rest_requests": s.rest.stats["requests"],
        "rest_paced_s": round(s.rest.paced_s, 1),
    }


def ok(row: dict[str, Any]) -> bool:
    """What every scenario must show: still running, nothing lost or doubled, nothing
    unprotected at the end, no stop above the market, no entry left resting unsaid."""
    return bool(
        row["survived"]
        and not row["fills_lost"]
        and not row["fills_extra"]
        and not row["duplicate_ids"]
        and not row["unprotected_at_end"]
        and not row["stops_above_market"]
        and not row["entries_left_resting"]
    )


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] if ordered else 0.0


def kill_campaign(kills: int, seed: int, tmp: Path, speed: str = "40x") -> dict[str, Any]:
    """`tradekit run` SIGKILLed `kills` times at seeded random moments on one store."""
    rng = random.Random(seed)
    db = tmp / "kills.sqlite"
    cmd = [sys.executable, "-m", "tradekit.cli", "run", str(EXAMPLE), "--db", str(db)]
    cmd += ["--speed", speed, "--status-every", "3600"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "TRADEKIT__"))}
    survived = 0
    for _ in range(kills):
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        try:
            assert proc.stdout is not None
            proc.stdout.readline()  # the session is open
            time.sleep(rng.uniform(0.3, 2.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            survived += proc.returncode == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    final = subprocess.run([*cmd, "--for", "3"], capture_output=True, text=True, env=env)

    async def inspect() -> dict[str, int]:
        async with open_session(load_config(EXAMPLE), db, speed=speed) as s:
            await s.portfolio.recover()  # reconcile once more, then compare
            return compare(s)

    figures = asyncio.run(inspect())
    return {"kills": kills, "killed": survived, "final_run_ok": final.returncode == 0,
            **figures}  # fmt: skip


def run(
    speeds: tuple[str, ...] = ("1x", "40x"), seconds: float = 10.0, kills: int = 100,
    seed: int = 7,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """The whole campaign: every fault scenario at every speed, then the kills."""
    with tempfile.TemporaryDirectory(prefix="tradekit-campaign-") as tmp:
        rows = [
            asyncio.run(fault_scenario(name, speed, seconds, Path(tmp)))
            for speed in speeds
            for name in (*SCENARIOS, *OUTAGES)
        ]
        killed = kill_campaign(kills, seed, Path(tmp)) if kills else {}
    return rows, killed


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m tradekit.app.campaign")
    parser.add_argument("--speeds", default="1x,40x", help="market speeds, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="faults last this long")
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs of tradekit run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rows, killed = run(tuple(args.speeds.split(",")), args.seconds, args.kills, args.seed)
    for row in rows:
        print(json.dumps(row), flush=True)
    if killed:
        print(json.dumps({"scenario": "kills", **killed}), flush=True)
    bad = [r for r in rows if not ok(r)]
    if killed and (killed["duplicate_ids"] or killed["fills_lost"] or killed["unprotected_at_end"]):
        bad.append(killed)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
