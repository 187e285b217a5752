"""`portfolio`: 50 pairs on the async Portfolio, 1,000,000 feed messages from a local feed.

The feed yields pre-parsed market trades of 50 seeded paths, interleaved, as fast as the
portfolio takes them; the exchange is the paper exchange behind async methods (so every
trade is matched, as a live exchange would), the store a file. Figures:
- portfolio_messages_per_s: messages handled per second, all pairs together;
- p50/p99_receipt_to_command_ms: from a message leaving the feed to the end of the
  commands it caused (journaled, then performed), over the messages that caused any,
  measured in a second run paced at LATENCY_RATE messages/s (the target load): at full
  speed the feed is faster than any consumer and the figure would only measure the
  inbox's queue;
- rss_growth_mb: resident memory after the second half-million minus after the first;
- lost_messages: messages the feed sent minus messages the portfolio handled (must be 0).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from tradekit.bench.figures import Figure
from tradekit.core.decision import DecisionEngine, PairParams
from tradekit.core.entry import PullbackEntry
from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec
from tradekit.core.position import TrailParams
from tradekit.core.risk import RiskLimits
from tradekit.data.generators import PricePath
from tradekit.engine.portfolio import Portfolio
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.paper import PaperExchange
from tradekit.store.sqlite import Store

PAIRS = 50
SEC = 10**9
LATENCY_RATE = 20_000  # messages/s for the latency run
LATENCY_MESSAGES = 200_000


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def products() -> list[ProductSpec]:
    return [
        ProductSpec(f"P{i:02d}-USD", Decimal("0.00000001"), Decimal("0.01"), Decimal("0.0001"))
        for i in range(PAIRS)
    ]


def decisions(specs: list[ProductSpec]) -> list[DecisionEngine]:
    out = []
    for spec in specs:
        params = PairParams(
            spec,
            TrailParams(Decimal("0.01"), Decimal("0.003"), Decimal("0.0005")),
            600 * SEC,
            quote_budget=Decimal("1000"),
        )
        out.append(
            DecisionEngine(
                params, PullbackEntry(Decimal("0.004"), 1800 * SEC), f"b-{spec.product_id}"
            )
        )
    return out


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    total = max(PAIRS * 100, ticks)
    if progress is not None:
        progress.write(f"portfolio: {PAIRS} pairs, {total:,} messages at full speed\n")
    full = _run_once(total, rate=None)
    if progress is not None:
        progress.write(f"portfolio: {LATENCY_MESSAGES:,} messages at {LATENCY_RATE:,}/s\n")
    paced = _run_once(min(total, LATENCY_MESSAGES), rate=LATENCY_RATE)
    lat = sorted(paced["latencies"])
    p50 = statistics.median(lat) if lat else 0.0
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
    return [
        Figure("portfolio_messages_per_s", round(full["rate"]), "messages/s"),
        Figure("p50_receipt_to_command_ms", round(p50, 3), "ms"),
        Figure("p99_receipt_to_command_ms", round(p99, 3), "ms"),
        Figure("rss_growth_mb", round(full["rss_growth"], 1), "MB"),
        Figure("lost_messages", full["lost"] + paced["lost"], "messages"),
        Figure("commands", full["commands"], "commands"),
        Figure("journal_rows", full["journal_rows"], "rows"),
    ]


def _run_once(total: int, rate: float | None) -> dict[str, Any]:
    per_pair = total // PAIRS
    specs = products()
    paths = [
        iter(PricePath(s.product_id, Decimal(100 + 7 * i), per_pair, seed=i, tick_ns=SEC))
        for i, s in enumerate(specs)
    ]
    sent = 0
    half_rss: list[float] = []

    async def feed() -> AsyncIterator[MarketTrade]:
        nonlocal sent
        start = time.perf_counter()
        for _ in range(per_pair):
            for it in paths:
                yield next(it)
                sent += 1
                if rate is not None and sent % 10 == 0:
                    ahead = start + sent / rate - time.perf_counter()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            if sent == PAIRS * (per_pair // 2):
                half_rss.append(rss_mb())

    async def go(store: Store) -> tuple[Portfolio, float]:
        paper = PaperExchange(products=specs, balances={"USD": Decimal("100000000")})
        pf = Portfolio(
            decisions(specs),
            AsyncExchange(paper),
            store,
            feed,
            limits=RiskLimits(max_open_positions=40),
            poll_after_s=3600,
        )
        t0 = time.perf_counter()
        await pf.run()
        return pf, time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.sqlite") as store:
        pf, elapsed = asyncio.run(go(store))
        end_rss = rss_mb()
        rows = len(store.journal())
    return {
        "rate": pf.stats.messages / elapsed,
        "latencies": list(pf.stats.latencies_ms),
        "rss_growth": end_rss - half_rss[0] if half_rss else 0.0,
        "lost": sent - pf.stats.messages,
        "commands": pf.stats.commands,
        "journal_rows": rows,
    }
