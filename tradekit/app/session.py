"""A portfolio run built from a config: the exchange (tradekit sim, or Coinbase with real
keys and an explicit opt-in), the async adapters, the feed, the store, the portfolio.

In a notebook, a handle held across cells (no `async with` to keep open):

    session = await open_session(config)      # starts tradekit sim when configured
    session.start()                           # the portfolio runs on the kernel's loop
    ...
    await session.close()                     # portfolio, feed, adapter, store, simulator

In a script, the same as a context manager: `async with open_session(config, db) as s:`.
If the process ends first (a kernel shut down or restarted), an exit hook stops the
simulator and closes the store, so nothing is left running.

Three modes (`mode=`, or from the config's `exchange.kind`):
- "sim" (the default): the session starts `tradekit sim` in the background with its
  market moving (seeded, endless), and trades on it through the same async adapter and
  feed client that real trading uses;
- "paper": Coinbase's live public market (its public WebSocket channels and public REST
  endpoints: no key is read, none is sent, no private endpoint is called) drives the
  in-process paper exchange, where the orders rest and fill against the live trades.
  Its journal sits beside the store (`<db>.paper.jsonl`), so a paper run is persisted
  and resumed like any run. The market's URLs are `exchange.market_rest_url` /
  `market_ws_url` (a test points them at `tradekit sim`);
- "live": real orders. It needs `live=True` (or mode="live") AND real keys (a CDP key
  file named in the config or `COINBASE_API_KEY`/`COINBASE_API_SECRET`): otherwise it
  refuses, with one clear reason.

This wiring lives above the engines on purpose: no engine module imports the simulator.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tradekit.config import Config
from tradekit.core.decision import DecisionEngine
from tradekit.core.risk import RiskLimits
from tradekit.engine.portfolio import Portfolio, PortfolioHandle
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.coinbase import AsyncCoinbaseFeed, AsyncCoinbaseRest, FeedConfig
from tradekit.exchange.coinbase.credentials import ENV_KEY_NAME, Credentials, CredentialsError
from tradekit.exchange.paper import FillModel, PaperExchange
from tradekit.exchange.types import ExchangeError
from tradekit.store.sqlite import Store

COINBASE_REST = "https://api.coinbase.com"
COINBASE_WS = "wss://advanced-trade-ws.coinbase.com"
Mode = Literal["sim", "paper", "live"]
# what a paper run subscribes to: public channels only (no `user`: it needs a key)
PAPER_CHANNELS = ("heartbeats", "market_trades")


class LiveTradingRefused(ValueError):
    """Live trading was asked for without what it needs (or needed and not asked for)."""


@dataclass
class Session:
    """Everything one run holds. `close()` (or leaving `async with`) stops all of it."""

    config: Config
    portfolio: Portfolio
    rest: AsyncCoinbaseRest
    feed: AsyncCoinbaseFeed
    store: Store
    run_id: str
    sim: Any = None  # the SimServer, on the simulator
    db_path: Path | None = None  # None: a temporary store, removed on close
    resumed: bool = False  # the store already held this run (a restart)
    handle: PortfolioHandle | None = None
    mode: Mode = "sim"
    paper: PaperExchange | None = None  # the in-process paper exchange, in paper mode
    _tmp: Any = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def live(self) -> bool:
        """Real orders on Coinbase (not the simulator, not paper)."""
        return self.mode == "live"

    @property
    def mode_label(self) -> str:
        """LIVE, PAPER or SIM: what every view and summary of the run says first."""
        return self.mode.upper()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def where(self) -> str:
        """One line: the exchange and the store, and whether the store was resumed."""
        if self.mode == "live":
            exchange = "LIVE on Coinbase"
        elif self.mode == "paper":
            url = self.config.exchange.market_ws_url
            market = "Coinbase's live market" if url == COINBASE_WS else f"the market at {url}"
            exchange = (
                f"PAPER trading on {market} (public data, no key; orders on the "
                "in-process paper exchange, never sent)"
            )
        else:
            exchange = f"tradekit sim at {self.sim.base_url}"
        store = (f"store {self.db_path}" if self.db_path is not None else "a temporary store") + (
            f" (resumed run {self.run_id})" if self.resumed else f" (new run {self.run_id})"
        )
        return f"{exchange}, {store}"

    def start(self) -> PortfolioHandle:
        """Start the portfolio on the running loop (the kernel's, in a notebook)."""
        if self._closed:
            raise RuntimeError("this session is closed: open a new one")
        if self.handle is None:
            self.handle = self.portfolio.start()
        return self.handle

    async def first_report(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        """The journal row of the first report of type `kind` (e.g. "EntrySkipped",
        "PositionClosed"), waiting for it if there is none yet: woken by the portfolio's
        steps, never by polling. Raises TimeoutError after `timeout` seconds."""

        def first() -> dict[str, Any] | None:
            rows = self.store.journal(kinds="report")
            return next((r for r in rows if r["type"] == kind), None)

        row = first()
        if row is not None:
            return row
        seen = asyncio.get_running_loop().create_future()

        def on_step(_pid: str, step: Any) -> None:
            if not seen.done() and any(type(r).__name__ == kind for r in step.reports):
                seen.set_result(None)

        unwatch = self.portfolio.watch(on_step)
        try:
            await asyncio.wait_for(seen, timeout)
        except TimeoutError:
            raise TimeoutError(f"no {kind} report within {timeout:g} s") from None
        finally:
            unwatch()
        row = first()
        assert row is not None
        return row

    async def close(self, keep_entries: bool = False) -> None:
        """Stop the portfolio (its stops stay on the exchange; its resting entries are
        cancelled unless `keep_entries`), close the feed, the adapter and the store,
        stop the simulator. Safe to call twice."""
        if self._closed:
            return
        try:
            await self.portfolio.stop(keep_entries)
            await self.feed.close()
            await self.rest.aclose()
        finally:
            self._close_now()

    def _close_now(self) -> None:
        """What can be closed without a loop: the store, the simulator, temporary files.
        Also the exit hook of a process (a kernel) that ends with the session open."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._close_now)
        with contextlib.suppress(Exception):
            self.store.close()
        if self.paper is not None:
            with contextlib.suppress(Exception):
                self.paper.close()
        if self.sim is not None:
            with contextlib.suppress(Exception):
                self.sim.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self.running else "open")
        return f"Session({len(self.portfolio.drivers)} pairs, {state}, {self.where})"

    @property
    def running(self) -> bool:
        return self.handle is not None and self.handle.running


def limits_of(config: Config) -> RiskLimits:
    p = config.portfolio
    return RiskLimits(
        max_open_positions=p.max_open_positions,
        max_quote_exposure=p.max_quote_exposure,
        max_quote_exposure_per_pair=p.max_quote_exposure_per_pair,
        daily_loss_limit=p.daily_loss_limit,
    )


def live_credentials(config: Config, live: bool) -> Credentials:
    """Real keys for live trading, or the reason there are none."""
    if config.exchange.kind == "coinbase" and not live:
        raise LiveTradingRefused(
            "the config says exchange.kind = 'coinbase': live trading also needs --live"
        )
    if not live:
        raise LiveTradingRefused("not asked to trade live")
    try:
        if config.exchange.keys_file:
            return Credentials.from_file(config.exchange.keys_file)
        return Credentials.from_env()
    except CredentialsError as exc:
        raise LiveTradingRefused(
            f"--live needs real keys: a CDP key file as exchange.keys_file in the config, "
            f"or {ENV_KEY_NAME} and COINBASE_API_SECRET ({exc})"
        ) from None


class _Opening:
    """What `open_session` returns: awaited, the Session; or `async with` it."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, Session]]) -> None:
        self._make = make
        self._session: Session | None = None

    def __await__(self) -> Generator[Any, None, Session]:
        return self._make().__await__()

    async def __aenter__(self) -> Session:
        self._session = await self._make()
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()


def open_session(
    config: Config,
    db: str | os.PathLike[str] | None = None,
    *,
    live: bool = False,
    mode: Mode | None = None,
    speed: str = "10x",
    prices: str | None = None,
    sim_state: str | os.PathLike[str] | None = None,
    poll_after_s: float = 5.0,
    feed_config: FeedConfig | None = None,
    sim_fill_model: FillModel = "trade_size",
) -> _Opening:
    """Open a run of `config`: `session = await open_session(config)` or
    `async with open_session(config, db) as session:`.

    `db`: the SQLite store (kept, and resumed when it holds a run); None = a temporary
    one removed on close. `mode`: "sim", "paper" or "live" (default: "live" with
    `live=True`, else "paper" when the config says `exchange.kind = "paper"`, else "sim").
    On the simulator: `speed` of its market (e.g. "10x"), `prices` its source (default:
    seeded endless paths), `sim_state` its order journal (default: beside the store, so
    that a restart finds the orders the store remembers), `sim_fill_model` how it fills a
    touched order ("trade_size", the default: by at most what traded, so entries fill in
    parts; "full": whole).
    """
    chosen = session_mode(config, live, mode)

    async def make() -> Session:
        return await _open(
            config, db, chosen, speed, prices, sim_state, poll_after_s, feed_config, sim_fill_model
        )

    return _Opening(make)


def session_mode(config: Config, live: bool, mode: Mode | None) -> Mode:
    """The mode a run is in; refuses a contradiction (paper and live at once)."""
    if mode is None:
        return "live" if live else ("paper" if config.exchange.kind == "paper" else "sim")
    if mode not in ("sim", "paper", "live"):
        raise ValueError(f"mode must be 'sim', 'paper' or 'live', got {mode!r}")
    if live and mode != "live":
        raise LiveTradingRefused(f"asked for live trading and for mode {mode!r} at once")
    return mode


async def _open(
    config: Config,
    db: str | os.PathLike[str] | None,
    mode: Mode,
    speed: str,
    prices: str | None,
    sim_state: str | os.PathLike[str] | None,
    poll_after_s: float,
    feed_config: FeedConfig | None,
    sim_fill_model: FillModel = "trade_size",
) -> Session:
    sim = None
    tmp = tempfile.TemporaryDirectory(prefix="tradekit-run-")
    store: Store | None = None
    rest: AsyncCoinbaseRest | None = None
    try:
        db_path = Path(db) if db is not None else None
        store_path = db_path if db_path is not None else Path(tmp.name) / "run.sqlite"
        if mode == "paper":
            return await _open_paper(config, db_path, store_path, tmp, poll_after_s, feed_config)
        if mode == "live":
            creds = live_credentials(config, True)
            base_url, ws_url = COINBASE_REST, COINBASE_WS
        else:
            if config.exchange.kind == "coinbase":
                live_credentials(config, False)  # refuses, with the reason
            from tradekit.sim.market import start_market
            from tradekit.sim.server import SimServer

            keys = Path(tmp.name) / "sim-key.json"
            state = Path(sim_state) if sim_state is not None else Path(f"{store_path}.sim.jsonl")
            sim = SimServer(keys_file=keys, state_path=state, fill_model=sim_fill_model).start()
            sim.call(lambda st: start_market(st, prices, speed))
            creds = Credentials.from_file(keys)
            base_url, ws_url = sim.base_url, sim.ws_url
        store = Store(store_path)
        run_id = store.meta_get("run_id")
        resumed = run_id is not None
        if run_id is None:
            run_id = secrets.token_hex(3)
            store.meta_set("run_id", run_id)
        rest = AsyncCoinbaseRest(creds, base_url, can_edit_stops=config.exchange.edit_stops)
        decisions = []
        for pair in config.pairs:
            spec = await rest.product(pair.product_id)
            decisions.append(
                DecisionEngine(pair.params(spec), pair.entry_rule(), f"{run_id}-{pair.product_id}")
            )
        feed = AsyncCoinbaseFeed(
            ws_url, [p.product_id for p in config.pairs], creds, rest=rest, config=feed_config
        )
        portfolio = Portfolio(
            decisions,
            rest,
            store,
            feed.events,
            limits=limits_of(config),
            poll_after_s=poll_after_s,
            max_trade_age_s=config.portfolio.max_trade_age / 1e9,
        )
        feed.on_trouble = portfolio.degrade  # a failed resync degrades its pairs
    except BaseException:
        if rest is not None:
            await rest.aclose()
        if store is not None:
            store.close()
        if sim is not None:
            sim.stop()
        tmp.cleanup()
        raise
    session = Session(
        config, portfolio, rest, feed, store, run_id, sim, db_path, resumed, mode=mode, _tmp=tmp
    )
    atexit.register(session._close_now)
    return session


async def _open_paper(
    config: Config,
    db_path: Path | None,
    store_path: Path,
    tmp: Any,
    poll_after_s: float,
    feed_config: FeedConfig | None,
) -> Session:
    """Paper trading: the public market (no key) drives the in-process paper exchange."""
    ex = config.exchange
    pids = [p.product_id for p in config.pairs]
    store: Store | None = None
    paper: PaperExchange | None = None
    rest = AsyncCoinbaseRest(None, ex.market_rest_url, ca_file=ex.market_ca_file)
    try:
        specs = [await rest.product(pid) for pid in pids]  # the public endpoint
        store = Store(store_path)
        run_id = store.meta_get("run_id")
        resumed = run_id is not None
        if run_id is None:
            run_id = secrets.token_hex(3)
            store.meta_set("run_id", run_id)
        journal = Path(f"{store_path}.paper.jsonl")
        if journal.exists() and journal.stat().st_size > 0:
            paper = PaperExchange.restore(journal, clock=time.time_ns)
            missing = [pid for pid in pids if pid not in paper.products]
            if missing:
                raise ExchangeError(
                    f"the paper exchange of this run ({journal}) does not trade "
                    f"{', '.join(missing)}: a pair added to a paper run needs a new store"
                )
        else:
            paper = PaperExchange(
                specs,
                dict(ex.paper_balances),
                state_path=journal,
                clock=time.time_ns,
                # a touch fills at most what traded: the live market's sizes decide
                fill_model="trade_size",
                id_seed=f"paper-{run_id}",
            )
        decisions = [
            DecisionEngine(pair.params(spec), pair.entry_rule(), f"{run_id}-{pair.product_id}")
            for pair, spec in zip(config.pairs, specs, strict=True)
        ]
        base = feed_config or FeedConfig(channels=PAPER_CHANNELS)
        public = tuple(c for c in base.channels if c in ("heartbeats", "market_trades"))
        feed = AsyncCoinbaseFeed(
            ex.market_ws_url,
            pids,
            None,  # no credentials: public channels, no JWT
            ca_file=ex.market_ca_file,
            config=dataclasses.replace(base, channels=public or PAPER_CHANNELS),
        )
        portfolio = Portfolio(
            decisions,
            AsyncExchange(paper),  # in-process: every live trade matches its book first
            store,
            feed.events,
            limits=limits_of(config),
            poll_after_s=poll_after_s,
        )
    except BaseException:
        await rest.aclose()
        if paper is not None:
            paper.close()
        if store is not None:
            store.close()
        tmp.cleanup()
        raise
    session = Session(
        config,
        portfolio,
        rest,
        feed,
        store,
        run_id,
        None,
        db_path,
        resumed,
        mode="paper",
        paper=paper,
        _tmp=tmp,
    )
    atexit.register(session._close_now)
    return session
