"""Paper trading: Coinbase's public market (here `tradekit sim` serving as it, over real
sockets) drives the in-process paper exchange; no key, no private endpoint, no order
ever reaches the market; persisted and resumed like any run; PAPER said plainly."""

from __future__ import annotations

import asyncio
import logging
import time
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tradekit.app.session import LiveTradingRefused, Session, open_session, session_mode
from tradekit.app.terminal import status_view, summary_lines
from tradekit.config import Config, load_config_dict
from tradekit.sim.market import start_market
from tradekit.sim.server import SimServer

EXAMPLE = Path(__file__).parents[2] / "examples" / "portfolio.toml"
FAST = 100_000.0


def paper_config(sim: SimServer, **exchange: Any) -> Config:
    """The example portfolio, as paper trading on `sim`'s public market."""
    data = tomllib.loads(EXAMPLE.read_text(), parse_float=Decimal)
    data["exchange"] = {
        "kind": "paper",
        "market_rest_url": sim.base_url,
        "market_ws_url": sim.ws_url,
        **exchange,
    }
    return load_config_dict(data, str(EXAMPLE), environ={})


@pytest.fixture(scope="module")
def market() -> Iterator[SimServer]:
    """The public market: tradekit sim with its seeded market at 200x (partial fills on:
    the default fill model) and an API key that the paper run must never use."""
    with SimServer(rate_limit_per_s=FAST, public_rate_limit_per_s=FAST) as sim:
        sim.call(lambda st: start_market(st, None, "200x"))
        yield sim


async def until(session: Session, done: Any, limit_s: float = 60.0) -> None:
    """Wait (bounded) for `done(session)`; fails naming what was missing."""
    deadline = time.monotonic() + limit_s
    while not done(session):
        if time.monotonic() > deadline or not session.running:
            raise AssertionError(f"not reached: {done.__doc__} ({session!r})")
        await asyncio.sleep(0.2)


def traded(session: Session) -> bool:
    """a fill, a partial fill of an entry and a stop move in the journal"""
    store = session.store
    fills = [f for pid in session.portfolio.drivers for f in store.fills(pid)]
    per_order: dict[str, int] = {}
    for f in fills:
        per_order[f["client_order_id"]] = per_order.get(f["client_order_id"], 0) + 1
    moves = [
        m
        for pid in session.portfolio.drivers
        for m in store.stop_history(pid)
        if m["old_trigger"] is not None
    ]
    return bool(fills) and max(per_order.values(), default=0) > 1 and bool(moves)


def test_a_paper_run_of_the_example_portfolio_on_the_public_market(
    market: SimServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tradekit.sim")
    config = paper_config(market)
    db = tmp_path / "paper.sqlite"

    async def run() -> dict[str, Any]:
        async with open_session(config, db) as session:
            assert session.mode == "paper" and session.mode_label == "PAPER"
            assert not session.live and session.sim is None
            assert "PAPER trading on the market at" in session.where
            # no key anywhere: the adapter has none, the feed sends no JWT and has no
            # user channel (a private endpoint called without a key raises, unsent)
            assert session.rest.credentials is None and session.feed.credentials is None
            assert "user" not in session.feed.config.channels
            session.start()
            await until(session, traded)
            from tradekit.notebook.monitor import PortfolioMonitor

            monitor = PortfolioMonitor(session, start=False)
            badge = monitor.header.value
            monitor.close()
            header = status_view(session, time.monotonic()).renderables[0].plain
            summary = summary_lines(session, 1.0, "stopped")
            orders = session.paper.list_orders() if session.paper else []
            public_requests = session.rest.stats["requests"]
            await session.portfolio.stop()
        return {
            "badge": badge,
            "header": header,
            "summary": summary,
            "orders": orders,
            "public_requests": public_requests,
        }

    out = asyncio.run(run())
    assert out["header"].startswith("PAPER")
    assert "class='tradekit-mode'" in out["badge"] and ">PAPER</b>" in out["badge"]
    assert out["summary"][0].startswith("tradekit run (PAPER): stopped")
    assert "nothing was sent to the exchange" in out["summary"][0]
    assert out["orders"] and out["public_requests"] >= 3  # the products, publicly
    # the market never saw an order, nor a request with a key: every private endpoint
    # would have been refused (401, logged) and the simulator logged none
    assert market.call(lambda st: st.exchange.list_orders()) == []
    assert not [r for r in caplog.records if r.getMessage().startswith("401")]
    assert not [r for r in caplog.records if "JWT" in r.getMessage()]
    # ... and the log would show one: a request with no key gets its 401 logged
    assert httpx.get(f"{market.base_url}/api/v3/brokerage/accounts").status_code == 401
    assert [r for r in caplog.records if r.getMessage().startswith("401")]
    # persisted: the paper exchange's journal beside the store
    assert Path(f"{db}.paper.jsonl").stat().st_size > 0

    async def resume() -> tuple[bool, list[Any], str]:
        async with open_session(config, db) as again:
            assert again.paper is not None
            return again.resumed, again.paper.list_orders(), again.run_id

    resumed, orders, _run_id = asyncio.run(resume())
    assert resumed and orders == out["orders"]  # the same orders, restored


def test_modes_are_chosen_plainly_and_contradictions_refused(market: SimServer) -> None:
    paper = paper_config(market)
    assert session_mode(paper, False, None) == "paper"
    assert session_mode(paper, False, "sim") == "sim"
    assert session_mode(paper, True, None) == "live"
    sim_config = load_config_dict(
        {"pairs": [{"product_id": "BTC-USD", "size": "0.01", "trail_pct": "0.01"}]},
        "t",
        environ={},
    )
    assert session_mode(sim_config, False, None) == "sim"
    assert session_mode(sim_config, False, "paper") == "paper"
    with pytest.raises(LiveTradingRefused, match="paper"):
        session_mode(sim_config, True, "paper")


def test_a_paper_run_names_a_product_the_market_does_not_have(market: SimServer) -> None:
    data = {
        "exchange": {
            "kind": "paper",
            "market_rest_url": market.base_url,
            "market_ws_url": market.ws_url,
        },
        "pairs": [{"product_id": "NOPE-USD", "size": "1", "trail_pct": "0.01"}],
    }
    config = load_config_dict(data, "t", environ={})

    async def run() -> None:
        async with open_session(config):
            pass

    with pytest.raises(Exception, match="NOPE-USD"):
        asyncio.run(run())


def test_tradekit_run_paper_says_paper(market: SimServer, tmp_path: Path, capsys: Any) -> None:
    from tradekit.cli import main

    config = tmp_path / "paper.toml"
    text = EXAMPLE.read_text().replace(
        'kind = "sim"',
        f'kind = "sim"\nmarket_rest_url = "{market.base_url}"\nmarket_ws_url = "{market.ws_url}"',
    )
    config.write_text(text)
    db = tmp_path / "run.sqlite"
    args = ["run", str(config), "--paper", "--for", "1", "--db", str(db), "--status-every", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("tradekit run: 3 pairs, PAPER trading on the market at ws://")
    assert any(line.startswith("PAPER  ") for line in lines)  # the status blocks
    assert any(line.startswith("tradekit run (PAPER): ") for line in lines)  # the summary
    assert market.call(lambda st: st.exchange.list_orders()) == []


def test_run_refuses_paper_and_live_at_once(tmp_path: Path, capsys: Any) -> None:
    from tradekit.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", str(EXAMPLE), "--paper", "--live"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
