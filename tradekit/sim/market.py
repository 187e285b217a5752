"""The simulator's price driver: trades from a source, printed on the wall clock.

`start_market(state, source, speed)` runs a `Market` task on the server's event loop (call
it from that loop, e.g. in the app's lifespan). It takes trades from a source, stamps
each with the wall clock (`state.now()`, strictly increasing) and a fresh per-product
trade id, and calls `state.advance(trade)`, which matches resting orders and publishes the
trade, fills and order changes on the bus for the WebSocket channels.

Sources (`prices_source` parses the CLI's `--prices`):
- `seed:N` (default `seed:0`): seeded `PricePath`s for BTC-USD, ETH-USD and SOL-USD
  (starting at 60,000 / 3,000 / 150 USD, or at the exchange's last price when it has one,
  e.g. restored from its journal; seeds N, N+1, N+2; Poisson arrivals one a second on
  average per product), only those products the exchange lists;
- `csv:PATH` (BTC-USD) or `csv:PRODUCT=PATH[,PRODUCT=PATH...]`: candle files turned into
  four trades a bar by `candles_to_trades`; the market stops when they run out (the last
  price stays, heartbeats go on);
- in code: a mapping product_id -> iterable of trades, or any iterable of `MarketTrade`
  (several products merged by timestamp).

Speed (`parse_speed` parses the CLI's `--speed`): `realtime` (= `1x`) keeps the source's
spacing between trades, `Nx` divides it by N (`0.5x` slows down), `max` goes as fast as
the loop allows, yielding to it every `yield_every` trades (default 100) so REST
handlers and WebSocket writers still get their turn. Pacing aims at absolute times from
the first trade, so sleeps do not accumulate drift; a late market catches up in a burst.

Order book: the paper exchange has none, only a last price, so `synth_book` derives a
small deterministic book around it (used by the `level2` channel and the ticker's best
bid/ask; REST's `/best_bid_ask` and `/product_book` may use it too).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from tradekit.core.events import MarketTrade
from tradekit.core.money import ProductSpec, round_down
from tradekit.data.candles import candles_to_trades, load_candles
from tradekit.data.generators import NS_PER_SECOND, PricePath
from tradekit.sim.state import SimState

__all__ = [
    "DEFAULT_START_PRICES",
    "Market",
    "Source",
    "default_paths",
    "parse_speed",
    "prices_source",
    "start_market",
    "synth_book",
]

log = logging.getLogger(__name__)

Source = Mapping[str, Iterable[MarketTrade]] | Iterable[MarketTrade]

DEFAULT_START_PRICES: Mapping[str, Decimal] = {
    "BTC-USD": Decimal("60000.00"),
    "ETH-USD": Decimal("3000.00"),
    "SOL-USD": Decimal("150.00"),
}
_DEFAULT_SIZES = {
    "BTC-USD": Decimal("0.01"),
    "ETH-USD": Decimal("0.1"),
    "SOL-USD": Decimal("1"),
}
_ENDLESS = 10**12  # ticks: a default path never runs out in practice (lazy anyway)


# ----------------------------------------------------------------- sources and speed


def parse_speed(text: str) -> float | None:
    """`realtime` -> 1.0, `10x` / `0.5x` -> the factor, `max` -> None (no pacing)."""
    value = text.strip().lower()
    if value == "max":
        return None
    if value == "realtime":
        return 1.0
    m = re.fullmatch(r"(\d+(?:\.\d+)?)x", value)
    if m is None:
        raise ValueError(f"speed {text!r}: expected 'realtime', 'max' or a factor like '10x'")
    factor = float(m.group(1))
    if factor <= 0:
        raise ValueError(f"speed {text!r}: the factor must be positive")
    return factor


def default_paths(
    seed: int = 0,
    products: Iterable[str] | None = None,
    start_prices: Mapping[str, Decimal | None] | None = None,
) -> dict[str, Iterable[MarketTrade]]:
    """Seeded endless paths for the default products (or those of them in `products`).

    `start_prices` overrides where a path starts (a restored exchange's last prices, so
    that resting stops do not see a jump to the default price).
    """
    wanted = set(DEFAULT_START_PRICES if products is None else products)
    paths: dict[str, Iterable[MarketTrade]] = {}
    for i, (pid, price) in enumerate(DEFAULT_START_PRICES.items()):
        if pid in wanted:
            start = (start_prices or {}).get(pid)
            paths[pid] = PricePath(
                pid,
                price if start is None else start,
                _ENDLESS,
                seed=seed + i,
                random_spacing=True,
                size_median=_DEFAULT_SIZES[pid],
            )
    return paths


def prices_source(
    spec: str,
    products: Mapping[str, ProductSpec] | None = None,
    start_prices: Mapping[str, Decimal | None] | None = None,
) -> dict[str, Iterable[MarketTrade]]:
    """A source from the CLI's `--prices`: `seed:N`, `csv:PATH` or `csv:PID=PATH,...`.

    `products` (the exchange's) restricts seeded paths to listed products, refuses CSV
    files for unlisted ones, and gives the CSV trades their `base_increment`;
    `start_prices` is passed to `default_paths`.
    """
    kind, sep, arg = spec.partition(":")
    if not sep or not arg:
        raise ValueError(f"prices {spec!r}: expected 'seed:N' or 'csv:PATH'")
    if kind == "seed":
        try:
            seed = int(arg)
        except ValueError:
            raise ValueError(f"prices {spec!r}: the seed must be an integer") from None
        return default_paths(seed, None if products is None else list(products), start_prices)
    if kind != "csv":
        raise ValueError(f"prices {spec!r}: unknown source {kind!r} (seed or csv)")
    out: dict[str, Iterable[MarketTrade]] = {}
    parts = arg.split(",") if "=" in arg else [f"BTC-USD={arg}"]
    for part in parts:
        pid, eq, path = part.partition("=")
        pid = pid.strip()
        if not eq or not pid or not path:
            raise ValueError(f"prices {spec!r}: expected PRODUCT=PATH, got {part!r}")
        if products is not None and pid not in products:
            raise ValueError(f"prices {spec!r}: the exchange lists no product {pid!r}")
        if pid in out:
            raise ValueError(f"prices {spec!r}: {pid} given twice")
        candles = load_candles(Path(path))
        if products is not None:
            out[pid] = candles_to_trades(candles, pid, base_increment=products[pid].base_increment)
        else:
            out[pid] = candles_to_trades(candles, pid)
    return out


def _merged(source: Source) -> Iterator[MarketTrade]:
    if isinstance(source, Mapping):
        streams = list(source.values())
        if len(streams) == 1:
            return iter(streams[0])
        return heapq.merge(*streams, key=lambda t: t.ts)
    return iter(source)


# ------------------------------------------------------------------------- the book


def book_step(spec: ProductSpec, price: Decimal) -> Decimal:
    """The synthetic book's level spacing: about one basis point of the price, as
    `quote_increment` times a power of ten, so it stays put while the price moves."""
    ratio = price * Decimal("0.0001") / spec.quote_increment
    power = max(0, ratio.adjusted()) if ratio > 0 else 0
    return spec.quote_increment.scaleb(power)


def synth_book(
    spec: ProductSpec, last: Decimal, levels: int = 10
) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """(bids best first, asks best first) of (price, size) around the last price.

    Deterministic (a function of product, price level and last price only), so every
    connection and REST see the same book: levels on a grid of `book_step`, the best bid
    at or just under the last price, the best ask one step above it; each level's size is
    0.001..5 base units from a hash of its price.
    """
    step = book_step(spec, last)
    best_bid = round_down(last, step)
    bids = []
    for k in range(levels):
        price = best_bid - step * k
        if price <= 0:
            break
        bids.append((price, _level_size(spec, price)))
    asks = [
        (best_bid + step * (k + 1), _level_size(spec, best_bid + step * (k + 1)))
        for k in range(levels)
    ]
    return bids, asks


@functools.lru_cache(maxsize=65_536)
def _level_size(spec: ProductSpec, price: Decimal) -> Decimal:
    """A level's size: a pure function of its price (cached: the book is rebuilt per
    trade and most levels stay)."""
    h = zlib.crc32(f"{spec.product_id}:{format(price.normalize(), 'f')}".encode())
    size = round_down(Decimal(h % 5000 + 1) / 1000, spec.base_increment)
    return size if size > 0 else spec.base_increment


# ----------------------------------------------------------------------- the driver


@dataclass
class MarketStats:
    """What the driver did: trades printed, and when it finished (or why it failed)."""

    trades: int = 0
    finished: bool = False
    error: BaseException | None = None


class Market:
    """Feeds a source into `state.advance` at a speed; one asyncio task on the loop.

    speed: a factor (1.0 real time) or None (as fast as possible). yield_every: at
    max speed (or when behind schedule), give the loop a turn every that many trades.
    """

    def __init__(
        self,
        state: SimState,
        source: Source | None = None,
        speed: float | None = 1.0,
        *,
        yield_every: int = 100,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive or None, got {speed}")
        if yield_every < 1:
            raise ValueError(f"yield_every must be >= 1, got {yield_every}")
        self.state = state
        if source is None:
            source = default_paths(0, list(state.exchange.products), _last_prices(state))
        self.source: Source = source
        self.speed = speed
        self.yield_every = yield_every
        self.stats = MarketStats()
        self._task: asyncio.Task[None] | None = None
        self._trade_ids: dict[str, int] = {}
        self._last_ts = 0
        self._go: asyncio.Event | None = None  # cleared while paused (made on the loop)
        self._reanchor = False  # pacing starts afresh (after a pause or a new speed)

    # -- a moderator's controls (call on the server's loop)

    def pause(self) -> None:
        """No trade prints until `resume()` (the market's clock stops with it)."""
        self._gate().clear()

    def resume(self) -> None:
        self._reanchor = True
        self._gate().set()

    @property
    def paused(self) -> bool:
        return not self._gate().is_set()

    def set_speed(self, speed: float | None) -> None:
        """A new pace from the next trade on (a factor, or None: as fast as possible)."""
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive or None, got {speed}")
        self.speed = speed
        self._reanchor = True

    def _gate(self) -> asyncio.Event:
        if self._go is None:
            self._go = asyncio.Event()
            self._go.set()
        return self._go

    def start(self) -> Market:
        """Start the task on the running loop (call from the server's loop)."""
        if self._task is not None:
            raise RuntimeError("the market is already started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-market")
        self._task.add_done_callback(self._done)
        return self

    def stop(self) -> None:
        """Stop printing (idempotent; safe to call from the loop thread only)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        """Until the source is exhausted or the market stopped; re-raises a failure."""
        if self._task is None:
            raise RuntimeError("the market is not started")
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _done(self, task: asyncio.Task[None]) -> None:
        self.stats.finished = True
        if not task.cancelled() and task.exception() is not None:
            self.stats.error = task.exception()
            log.error("sim market stopped: %s", task.exception())

    def _stamp(self, trade: MarketTrade) -> MarketTrade:
        """The trade on the wall clock, strictly later than the previous, fresh id."""
        ts = max(self.state.now(), self._last_ts + 1)
        self._last_ts = ts
        n = self._trade_ids.get(trade.product_id, 0) + 1
        self._trade_ids[trade.product_id] = n
        return replace(trade, ts=ts, trade_id=str(n))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        speed = self.speed
        every = self.yield_every
        advance = self.state.advance
        stats = self.stats
        gate = self._gate()
        src0: int | None = None
        wall0 = 0.0
        since_yield = 0
        for trade in _merged(self.source):
            if not gate.is_set():
                await gate.wait()
            if self._reanchor:  # paced afresh from here: no burst to catch up a pause
                self._reanchor = False
                speed = self.speed
                src0 = None
            if speed is not None:
                if src0 is None:
                    src0 = trade.ts
                    wall0 = loop.time()
                delay = wall0 + (trade.ts - src0) / NS_PER_SECOND / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    since_yield = 0
            since_yield += 1
            if since_yield >= every:
                since_yield = 0
                await asyncio.sleep(0)
            if not gate.is_set():  # paused while this trade waited its turn
                await gate.wait()
            advance(self._stamp(trade))
            stats.trades += 1


def _last_prices(state: SimState) -> dict[str, Decimal | None]:
    return {pid: state.exchange.last_price(pid) for pid in state.exchange.products}


def start_market(
    state: SimState,
    source: Source | str | None = None,
    speed: float | str | None = 1.0,
    *,
    yield_every: int = 100,
) -> Market:
    """Start a `Market` on the running loop; `source`/`speed` may be CLI strings.

    Returns the handle: `stop()` ends it, `await wait()` waits for a finite source.
    """
    if isinstance(source, str):
        source = prices_source(source, state.exchange.products, _last_prices(state))
    if isinstance(speed, str):
        speed = parse_speed(speed)
    return Market(state, source, speed, yield_every=yield_every).start()
