"""`rest`: the Coinbase REST adapters against tradekit sim on loopback, over TLS.

- async_round_trips_per_s: `AsyncCoinbaseRest.get_order` with 8 requests in flight
  (CONCURRENCY: 8 tasks on one adapter, its aiohttp connection pool), a fresh ES256 JWT
  per request, reply parsed to Decimals;
- sync_round_trips_per_s: the generated `CoinbaseRest.get_order`, one keep-alive
  connection, one request at a time;
- sdk_round_trips_per_s: Coinbase's official SDK (coinbase-advanced-py) `get_order`, the
  same call against the same simulator in the same run (one `requests` session, one
  request at a time: how the SDK is used, since it is synchronous);
- speedup_vs_sdk_async / speedup_vs_sdk_sync: each adapter's rate over the SDK's (so the
  async figure is 8 requests in flight against the SDK's one at a time: what a user of
  each gets);
- client_cpu_us_per_request_{async,sync,sdk}: the client's own CPU time per request (the
  simulator runs in another process), steadier than the rates on a busy machine, where
  the simulator's TLS work bounds every client's rate alike.
The simulator runs in a child process (tradekit.bench.servers) with TLS, since the SDK
speaks only https (as Coinbase does); the figures are the clients', though on a 2-core
machine the server's own work bounds them too. Every client is opened once and used
for the whole run (each keeps its connections alive, as in use), and the clients take
turns in short rounds, so that a machine whose load changes slows them alike.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any, TextIO

from tradekit.bench.child import child_server
from tradekit.bench.figures import Figure, median_rate
from tradekit.exchange.coinbase import AsyncCoinbaseRest, CoinbaseRest, Credentials

CONCURRENCY = 8
ROUNDS_PER_REPEAT = 5  # short turns: each ratio compares clients under the same load


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    """The three clients take turns in `repeat` x ROUNDS_PER_REPEAT rounds (in a rotated
    order), so that a busy machine slows them alike; each figure is the median over
    rounds, each speedup the median of the rounds' ratios."""
    count = max(100, min(ticks, 3000)) // ROUNDS_PER_REPEAT
    rates: dict[str, list[float]] = {"sync": [], "async": [], "sdk": []}
    cpu: dict[str, list[float]] = {"sync": [], "async": [], "sdk": []}  # this process only
    with tempfile.TemporaryDirectory() as tmp:
        keys = str(Path(tmp) / "key.json")
        with child_server("sim", keys) as (port, order_id, ca_file):
            creds = Credentials.from_file(keys)
            base = f"https://127.0.0.1:{port}"
            sdk = _sdk_client(keys, f"127.0.0.1:{port}")
            arest = AsyncCoinbaseRest(creds, base, ca_file=ca_file)

            with CoinbaseRest(creds, base, ca_file=ca_file) as rest, asyncio.Runner() as loop:

                def sync_trips() -> None:
                    for _ in range(count):
                        rest.get_order(order_id)

                async def async_trips() -> None:
                    left = count

                    async def worker() -> None:
                        nonlocal left
                        while left > 0:
                            left -= 1
                            await arest.get_order(order_id)

                    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

                def sdk_trips() -> None:
                    with _trusting(ca_file):
                        for _ in range(count):
                            sdk.get_order(order_id)

                work = {
                    "sync": sync_trips,
                    "async": lambda: loop.run(async_trips()),
                    "sdk": sdk_trips,
                }
                labels = list(work)
                try:
                    for i in range(repeat * ROUNDS_PER_REPEAT):
                        for label in labels[i % 3 :] + labels[: i % 3]:
                            cpu0 = time.process_time()
                            rates[label].append(
                                median_rate(count, work[label], 1, f"{label} {i + 1}", progress)
                            )
                            cpu[label].append((time.process_time() - cpu0) / count * 1e6)
                finally:
                    loop.run(arest.aclose())
    sdk_rates = rates["sdk"]
    return [
        Figure("async_round_trips_per_s", round(median(rates["async"])), "requests/s"),
        Figure("sync_round_trips_per_s", round(median(rates["sync"])), "requests/s"),
        Figure("sdk_round_trips_per_s", round(median(sdk_rates)), "requests/s"),
        Figure("speedup_vs_sdk_async", _speedup(rates["async"], sdk_rates), "x"),
        Figure("speedup_vs_sdk_sync", _speedup(rates["sync"], sdk_rates), "x"),
        *(
            Figure(f"client_cpu_us_per_request_{label}", round(median(values)), "us")
            for label, values in cpu.items()
        ),
    ]


def _speedup(ours: list[float], theirs: list[float]) -> float:
    return round(median(a / b for a, b in zip(ours, theirs, strict=True)), 2)


def _sdk_client(keys: str, host_port: str) -> Any:
    """Coinbase's official SDK REST client, unmodified (it signs its own JWTs)."""
    try:
        from coinbase.rest import RESTClient
    except ImportError as e:  # installed by `make` (see the Makefile), not a dependency
        raise RuntimeError(
            "the rest benchmark compares with coinbase-advanced-py: "
            "run `make .venv/.installed-stamp`"
        ) from e
    return RESTClient(key_file=keys, base_url=host_port)


@contextmanager
def _trusting(ca_file: str) -> Iterator[None]:
    """`requests` (the SDK's HTTP) trusts the simulator's CA through REQUESTS_CA_BUNDLE."""
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    try:
        yield
    finally:
        if saved is None:
            del os.environ["REQUESTS_CA_BUNDLE"]
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
