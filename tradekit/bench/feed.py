"""`feed`: WebSocket messages/s the feed client parses and dispatches.

A child process serves pre-serialised Coinbase messages (half `market_trades`, half
`user` order updates) as fast as the socket takes them, so the figure measures the
client: receive, JSON, sequence check, Decimal parsing, the cumulative-fill ledger.
feed_messages_per_s counts messages, not events (a user update that changes nothing is
still parsed and dispatched).
"""

from __future__ import annotations

import asyncio
import time
from typing import TextIO

from tradekit.bench.child import child_server
from tradekit.bench.figures import Figure
from tradekit.exchange.coinbase import AsyncCoinbaseFeed, FeedConfig


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    count = max(1000, min(ticks, 200_000))
    rates = []
    # the server sends more than is counted: a message that changes nothing yields no
    # event, so the client must never wait on a server that has nothing left to send
    with child_server("frames", str(count + count // 10 + 100)) as (port,):
        for i in range(repeat):

            async def consume() -> float:
                feed = AsyncCoinbaseFeed(
                    f"ws://127.0.0.1:{port}",
                    ["BTC-USD"],
                    config=FeedConfig(channels=("market_trades",), heartbeat_timeout_s=10),
                )
                t0 = time.perf_counter()
                async for _ in feed.events():
                    if feed.stats.messages >= count:
                        break
                elapsed = time.perf_counter() - t0
                await feed.close()
                return feed.stats.messages / elapsed

            rates.append(asyncio.run(consume()))
            if progress is not None:
                progress.write(f"  feed: run {i + 1}/{repeat}: {rates[-1]:,.0f}/s\n")
    rates.sort()
    return [Figure("feed_messages_per_s", round(rates[len(rates) // 2]), "messages/s")]
