"""Orders the user placed by hand, of types tradekit does not place (a bracket resting,
a market order filled), on the simulator over real sockets: listed and read as foreign,
never managed, and a whole run with them (start-up, a reconnect's resync) goes on."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tradekit.app.session import open_session
from tradekit.config import load_config_dict
from tradekit.core.orders import OrderStatus
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.sim.server import SimServer

FAST = 100_000.0


def by_hand(rest: CoinbaseRest) -> dict[str, Any]:
    """A bracket sell resting and a market buy filled, as a user places them."""
    bracket = rest._request(
        "POST",
        "/orders",
        body={
            "client_order_id": "hand-bracket",
            "product_id": "BTC-USD",
            "side": "SELL",
            "order_configuration": {
                "trigger_bracket_gtc": {
                    "base_size": "0.1",
                    "limit_price": "90000.00",
                    "stop_trigger_price": "40000.00",
                }
            },
        },
    )
    market = rest._request(
        "POST",
        "/orders",
        body={
            "client_order_id": "hand-market",
            "product_id": "BTC-USD",
            "side": "BUY",
            "order_configuration": {"market_market_ioc": {"quote_size": "100"}},
        },
    )
    assert bracket["success"] and market["success"], (bracket, market)
    return {"bracket": bracket["order_id"], "market": market["order_id"]}


def test_orders_placed_by_hand_are_listed_as_foreign(tmp_path: Path) -> None:
    with SimServer(
        keys_file=tmp_path / "k.json", rate_limit_per_s=FAST, public_rate_limit_per_s=FAST
    ) as sim:
        from tradekit.core.events import MarketTrade

        sim.call(
            lambda st: st.advance(MarketTrade("BTC-USD", D("60000.00"), D("1"), st.now(), "1"))
        )
        assert sim.keys_file is not None
        with CoinbaseRest(Credentials.from_file(sim.keys_file), sim.base_url) as rest:
            ids = by_hand(rest)
            [bracket] = rest.list_open_orders("BTC-USD")
            assert bracket.order_id == ids["bracket"] and bracket.foreign
            assert bracket.configuration == "trigger_bracket_gtc"
            assert (bracket.size, bracket.limit_price, bracket.stop_price) == (
                D("0.1"),
                D("90000.00"),
                D("40000.00"),
            )
            assert bracket.hold == D("0.1")  # it holds the base it would sell
            raw = rest._request("GET", f"/orders/historical/{ids['bracket']}")["order"]
            assert raw["order_type"] == "BRACKET"
            market = rest.get_order(ids["market"])
            assert market is not None and market.foreign and market.status is OrderStatus.FILLED
            assert market.configuration == "market_market_ioc"
            # a lookup by client_order_id scans the history, foreign orders and all
            found = rest.get_order_by_client_id("hand-market")
            assert found is not None and found.order_id == ids["market"]


def test_a_run_goes_on_beside_foreign_orders_through_a_resync(tmp_path: Path) -> None:
    """The run starts (cancel_orphans lists them), reconnects (the resync reads them)
    and trades, and never touches the user's orders."""
    trail = {"trail_pct": "0.002", "stop_limit_buffer_pct": "0.001", "max_entry_wait": "3s"}
    data = {
        "pairs": [
            {"product_id": "BTC-USD", "size": "0.01", **trail,
             "entry": {"rule": "fixed_offset", "offset_pct": "0.0002"}},
        ]
    }  # fmt: skip
    config = load_config_dict(data, "test", environ={})

    async def run() -> dict[str, Any]:
        async with open_session(config, tmp_path / "run.sqlite", speed="50x") as session:
            sim = session.sim
            assert sim is not None and sim.keys_file is not None
            with CoinbaseRest(Credentials.from_file(sim.keys_file), sim.base_url) as rest:
                await asyncio.sleep(0.3)  # a first price
                ids = await asyncio.to_thread(by_hand, rest)
            sim.call(lambda st: st.faults.update({"ws_drop_after": 40}))
            session.start()
            deadline = time.monotonic() + 40
            while session.feed.stats.resyncs < 2 or not session.store.fills("BTC-USD"):
                assert session.running, session.handle and session.handle.exception
                assert time.monotonic() < deadline, session.feed.stats
                await asyncio.sleep(0.2)
            sim.call(lambda st: st.faults.update({"ws_drop_after": None}))
            bracket = sim.call(lambda st: st.exchange.get_order(ids["bracket"]))
            running = session.running
            error = session.handle.exception if session.handle else None
        return {"bracket": bracket, "running": running, "error": error}

    out = asyncio.run(run())
    assert out["running"] and out["error"] is None
    assert out["bracket"].status is OrderStatus.OPEN  # never managed, never cancelled


@pytest.mark.parametrize("config", ["twap_limit_gtd", "scaled_limit_gtc"])
def test_other_types_are_still_refused_as_unsupported_here(tmp_path: Path, config: str) -> None:
    with SimServer(rate_limit_per_s=FAST, public_rate_limit_per_s=FAST) as sim:
        creds = Credentials(sim.key_name, sim.private_key_pem)
        with CoinbaseRest(creds, sim.base_url) as rest:
            reply = rest._request(
                "POST",
                "/orders",
                body={
                    "client_order_id": "hand-other",
                    "product_id": "BTC-USD",
                    "side": "BUY",
                    "order_configuration": {config: {"base_size": "0.1"}},
                },
            )
    assert reply["success"] is False
    assert reply["error_response"]["error"] == "UNSUPPORTED_ORDER_CONFIGURATION"
