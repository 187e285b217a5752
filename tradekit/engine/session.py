"""A portfolio run built from a config: the exchange (tradekit sim, or Coinbase with real
keys and an explicit opt-in), the async adapters, the feed, the store.

    async with open_session(config, db="run.sqlite") as session:
        handle = session.portfolio.start()
        ...

On the simulator (the default) the session starts `tradekit sim` in the background with
its market moving, and trades on it through the same async adapter and feed client that
real trading uses. Live trading needs `live=True` AND real keys (a CDP key file named in
the config or `COINBASE_API_KEY`/`COINBASE_API_SECRET`): otherwise it refuses, with one
clear reason.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradekit.config import Config
from tradekit.core.decision import DecisionEngine
from tradekit.core.risk import RiskLimits
from tradekit.engine.portfolio import Portfolio
from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed, FeedConfig
from tradekit.exchange.coinbase._async.rest import AsyncCoinbaseRest
from tradekit.exchange.coinbase.credentials import ENV_KEY_NAME, Credentials, CredentialsError
from tradekit.store.sqlite import Store

COINBASE_REST = "https://api.coinbase.com"
COINBASE_WS = "wss://advanced-trade-ws.coinbase.com"


class LiveTradingRefused(ValueError):
    """Live trading was asked for without what it needs (or needed and not asked for)."""


@dataclass
class Session:
    config: Config
    portfolio: Portfolio
    rest: AsyncCoinbaseRest
    feed: AsyncCoinbaseFeed
    store: Store
    run_id: str
    sim: Any = None  # the SimServer, on the simulator

    @property
    def live(self) -> bool:
        return self.sim is None


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


@asynccontextmanager
async def open_session(
    config: Config,
    db: str | os.PathLike[str],
    *,
    live: bool = False,
    speed: str = "10x",
    prices: str | None = None,
    sim_state: str | os.PathLike[str] | None = None,
    poll_after_s: float = 5.0,
    feed_config: FeedConfig | None = None,
) -> AsyncIterator[Session]:
    sim = None
    tmp = None
    try:
        if live:
            creds = live_credentials(config, live)
            base_url, ws_url, ca_file = COINBASE_REST, COINBASE_WS, None
        else:
            if config.exchange.kind == "coinbase":
                live_credentials(config, live)  # refuses, with the reason
            from tradekit.sim.server import SimServer

            tmp = tempfile.TemporaryDirectory(prefix="tradekit-run-")
            keys = Path(tmp.name) / "sim-key.json"
            # the simulated exchange persists beside the store, so that a restart of the
            # run finds the orders its store remembers
            state = Path(sim_state) if sim_state is not None else Path(f"{db}.sim.jsonl")
            sim = SimServer(keys_file=keys, state_path=state).start()
            _start_market(sim, prices, speed)
            creds = Credentials.from_file(keys)
            base_url, ws_url, ca_file = sim.base_url, sim.ws_url, None
        store = Store(db)
        run_id = store.meta_get("run_id")
        if run_id is None:
            run_id = secrets.token_hex(3)
            store.meta_set("run_id", run_id)
        rest = AsyncCoinbaseRest(creds, base_url, ca_file=ca_file)
        decisions = []
        for pair in config.pairs:
            spec = await rest.product(pair.product_id)
            decisions.append(
                DecisionEngine(pair.params(spec), pair.entry_rule(), f"{run_id}-{pair.product_id}")
            )
        feed = AsyncCoinbaseFeed(
            ws_url,
            [p.product_id for p in config.pairs],
            creds,
            rest=rest,
            ca_file=ca_file,
            config=feed_config,
        )
        portfolio = Portfolio(
            decisions, rest, store, feed.events, limits=limits_of(config), poll_after_s=poll_after_s
        )
        session = Session(config, portfolio, rest, feed, store, run_id, sim)
        try:
            yield session
        finally:
            await portfolio.stop()
            await feed.close()
            await rest.aclose()
            store.close()
    finally:
        if sim is not None:
            sim.stop()
        if tmp is not None:
            tmp.cleanup()


def _start_market(sim: Any, prices: str | None, speed: str) -> None:
    from tradekit.sim.market import start_market

    sim.call(lambda state: start_market(state, prices, speed))
