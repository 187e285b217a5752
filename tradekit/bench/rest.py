"""`rest`: the Coinbase REST adapters against tradekit sim on loopback.

- async_round_trips_per_s: `AsyncCoinbaseRest.get_order` with 8 requests in flight
  (httpx connection pool), a fresh ES256 JWT per request, reply parsed to Decimals;
- sync_round_trips_per_s: the generated `CoinbaseRest.get_order`, one keep-alive
  connection, one request at a time.
The simulator runs in a child process (tradekit.bench.servers), so the figures are the
client's; on this 2-core machine the server's own work bounds them too.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TextIO

from tradekit.bench.child import child_server
from tradekit.bench.figures import Figure, median_rate
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials

CONCURRENCY = 8


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    count = max(100, min(ticks, 3000))
    with tempfile.TemporaryDirectory() as tmp:
        keys = str(Path(tmp) / "key.json")
        with child_server("sim", keys) as (port, order_id):
            creds = Credentials.from_file(keys)
            base = f"http://127.0.0.1:{port}"

            with CoinbaseRest(creds, base) as rest:

                def sync_trips() -> None:
                    for _ in range(count):
                        rest.get_order(order_id)

                sync_rate = median_rate(count, sync_trips, repeat, "sync", progress)

            async def async_trips() -> None:
                async with AsyncCoinbaseRest(creds, base) as arest:
                    left = count

                    async def worker() -> None:
                        nonlocal left
                        while left > 0:
                            left -= 1
                            await arest.get_order(order_id)

                    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

            async_rate = median_rate(
                count, lambda: asyncio.run(async_trips()), repeat, "async", progress
            )
    return [
        Figure("async_round_trips_per_s", round(async_rate), "requests/s"),
        Figure("sync_round_trips_per_s", round(sync_rate), "requests/s"),
    ]
