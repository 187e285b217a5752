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
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradekit.app.session import Session, open_session
from tradekit.config import Config, load_config, load_config_dict
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
    "all-at-once": {
        "rest_error_rate": 0.1,
        "rest_429_rate": 0.1,
        "lose_reply_rate": 0.1,
        "timeout_rate": 0.05,
        "timeout_s": 1.0,
        **WS,
    },
}
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


async def fault_scenario(name: str, speed: str, seconds: float, tmp: Path) -> dict[str, Any]:
    """One scenario at one market speed; its figures (see the module docstring)."""
    faults = SCENARIOS[name]
    async with open_session(campaign_config(), tmp / f"{name}-{speed}.sqlite", speed=speed) as s:
        pf = s.portfolio
        handle = s.start()
        await _until(lambda: pf.stats.commands >= 4, 20)
        assert s.sim is not None
        struck_before = s.sim.call(lambda st: Counter(st.faults_injected))
        s.sim.call(lambda st: st.faults.update(faults))
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
        survived = handle.running and handle.exception is None
        gaps = [g for d in pf.drivers.values() for g in d.unprotected_s]
        lags = list(pf.stats.latencies_ms)
        waits = list(pf.stats.decision_waits_ms)
        feed = s.feed.stats
        await handle.stop()
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
            **figures,
            "longest_unprotected_ms": round(max(gaps, default=0.0) * 1000, 1),
            "largest_decision_lag_ms": round(max(lags, default=0.0), 1),
            "largest_decision_wait_ms": round(max(waits, default=0.0), 1),
            "p99_decision_wait_ms": round(_p99(waits), 1),
            "superseded": pf.stats.superseded,
            "deferred": pf.stats.deferred,
            "rest_requests": s.rest.stats["requests"],
            "rest_paced_s": round(s.rest.paced_s, 1),
        }


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
            for name in SCENARIOS
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
    bad = [r for r in rows if not r["survived"] or r["duplicate_ids"] or r["fills_lost"]
           or r["unprotected_at_end"]]  # fmt: skip
    if killed and (killed["duplicate_ids"] or killed["fills_lost"] or killed["unprotected_at_end"]):
        bad.append(killed)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
