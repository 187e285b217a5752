"""`sim_ws`: how fast the simulator's WebSocket feed pushes to one client, roughly.

A uvicorn server (its own thread and loop) serves `ws_routes` of a fresh `SimState`; one
`websockets` client subscribes to market_trades, ticker, level2 and candles for BTC-USD,
then the market driver prints a seeded path at max speed. Timed: from the market's start
until the client has the last trade. The client only scans raw frames (no JSON parsing),
but it shares the GIL with the server, as a local consumer would.

Figures (medians of `repeat` runs):
- sim_ws_messages_per_s: envelopes received per second when the driver yields after
  every trade (`yield_every=1`), so nothing coalesces: one message per channel and trade,
  the per-message cost of the feed (min(ticks, 100,000) / 5 trades a run);
- sim_ws_trades_per_s: trades delivered per second in market_trades at the driver's
  default max speed (`yield_every=100`), where a round of trades goes out as one message
  per channel (min(ticks, 100,000) trades a run).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from decimal import Decimal
from typing import TextIO

from tradekit.bench.figures import Figure

MAX_TRADES = 100_000
CHANNELS = ("market_trades", "ticker", "level2", "candles")


class _Server:
    """uvicorn on 127.0.0.1 (free port) in a daemon thread, with its loop at hand."""

    def __init__(self, app: object) -> None:
        import uvicorn

        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=lambda: self.loop.run_until_complete(self.server.serve()), daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        self.port: int = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.loop.close()


def _once(n: int, yield_every: int) -> tuple[float, int, int]:
    """One run: (seconds, messages, trades) for an n-trade path."""
    from starlette.applications import Starlette
    from websockets.asyncio.client import connect

    from tradekit.data.generators import PricePath
    from tradekit.exchange.paper import PaperExchange
    from tradekit.sim.market import start_market
    from tradekit.sim.state import SimState
    from tradekit.sim.ws import ws_routes

    state = SimState(PaperExchange(balances={"USD": Decimal("100000")}))
    server = _Server(Starlette(routes=ws_routes(state)))
    path = PricePath("BTC-USD", Decimal("60000"), n, seed=1)
    last = f'"trade_id":"{n}"'

    async def client() -> tuple[float, int, int]:
        async with connect(f"ws://127.0.0.1:{server.port}/ws", max_size=None) as ws:
            for channel in CHANNELS:
                await ws.send(
                    json.dumps(
                        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": channel}
                    )
                )
            acks = 0
            while acks < len(CHANNELS):  # snapshots, then each ack
                if '"channel":"subscriptions"' in str(await ws.recv()):
                    acks += 1
            start = asyncio.run_coroutine_threadsafe(_start(state, path, yield_every), server.loop)
            start.result(timeout=10)
            t0 = time.perf_counter()
            messages = trades = 0
            while True:
                frame = str(await ws.recv())
                messages += 1
                if frame.startswith('{"channel":"market_trades"'):
                    trades += frame.count('"trade_id"')
                    if last in frame:
                        return time.perf_counter() - t0, messages, trades

    async def _start(state: SimState, path: PricePath, every: int) -> None:
        start_market(state, {"BTC-USD": path}, None, yield_every=every)

    try:
        return asyncio.run(client())
    finally:
        server.stop()


def run(ticks: int, repeat: int, progress: TextIO | None) -> list[Figure]:
    n = max(1, min(ticks, MAX_TRADES))
    figures = []
    for name, unit, every, count in (
        # one trade per loop turn: nothing to coalesce, one message per channel and trade
        ("sim_ws_messages_per_s", "messages/s", 1, max(1, n // 5)),
        # the driver's default max speed: a round of ~100 trades per message
        ("sim_ws_trades_per_s", "trades/s", 100, n),
    ):
        rates = []
        for i in range(repeat):
            seconds, messages, trades = _once(count, every)
            rates.append((messages if unit == "messages/s" else trades) / seconds)
            if progress is not None:
                progress.write(
                    f"  sim_ws (yield_every={every}): run {i + 1}/{repeat}: {messages:,} "
                    f"messages, {trades:,} trades in {seconds:.2f} s\n"
                )
        figures.append(Figure(name, round(statistics.median(rates)), unit))
    return figures
