"""ccxt's `coinbase` class and ccxt.pro's WebSocket methods against the simulator over TLS.

ccxt is used unmodified but for its base URLs and CA trust: REST through `requests`
(trusting the simulator's CA via REQUESTS_CA_BUNDLE, read because `requests_trust_env`
is on), WebSockets through aiohttp (its `cafile` option). ccxt signs CDP keys' JWTs with
`iss: "coinbase-cloud"`, an `aud` and an `iat`, and starts `load_markets` with Coinbase
App's `/v2` currencies and exchange rates: all of that must work as on Coinbase.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import ccxt
import ccxt.pro
import pytest
from helpers.simhelp import Api

from tradekit.core.events import MarketTrade
from tradekit.sim.server import SimServer


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    keys = tmp_path_factory.mktemp("ccxt") / "cdp_api_key.json"
    with SimServer(
        tls=True, keys_file=keys, rate_limit_per_s=1000, public_rate_limit_per_s=1000
    ) as server:
        start = time.time_ns()
        for i, price in enumerate(["60000.00", "60010.00", "59990.00"]):
            trade = MarketTrade("BTC-USD", D(price), D("0.5"), start + i * 1000, f"seed-{i}")
            server.call(lambda st, t=trade: st.advance(t))
        yield server


@pytest.fixture
def exchange(tls_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sim.ca_file))
    ex = ccxt.coinbase(
        {
            "apiKey": tls_sim.key_name,
            "secret": tls_sim.private_key_pem,
            "requests_trust_env": True,
        }
    )
    ex.urls["api"]["rest"] = tls_sim.base_url
    yield ex
    ex.session.close()


@pytest.fixture
def admin(tls_sim: SimServer) -> Iterator[Api]:
    api = Api(tls_sim)
    yield api
    api.close()


def test_markets_currencies_time_and_market_data(exchange: Any):
    markets = exchange.load_markets()
    assert {"BTC/USD", "ETH/USD", "SOL/USD"} <= set(markets)
    btc = markets["BTC/USD"]
    assert (btc["id"], btc["precision"]["price"], btc["spot"]) == ("BTC-USD", 0.01, True)
    assert btc["maker"] == 0.004 and btc["taker"] == 0.006  # from /transaction_summary
    currencies = exchange.fetch_currencies()
    assert currencies["USD"]["type"] == "fiat" and currencies["BTC"]["type"] == "crypto"
    assert abs(exchange.fetch_time() - time.time() * 1000) < 60_000

    ticker = exchange.fetch_ticker("BTC/USD")
    assert ticker["last"] == 59990.0 and ticker["bid"] < ticker["ask"]
    tickers = exchange.fetch_tickers(["BTC/USD"])
    assert tickers["BTC/USD"]["last"] == 59990.0
    trades = exchange.fetch_trades("BTC/USD", limit=2)
    assert [t["price"] for t in trades] == [60010.0, 59990.0]  # ccxt sorts oldest first
    assert [t["side"] for t in trades] == ["buy", "sell"]  # the tick rule
    book = exchange.fetch_order_book("BTC/USD", 5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    candles = exchange.fetch_ohlcv("BTC/USD", "1m", limit=5)
    assert candles[-1][1:] == [60000.0, 60010.0, 59990.0, 59990.0, 1.5]


def test_balance_and_accounts(exchange: Any):
    balance = exchange.fetch_balance()  # ccxt's default: GET /v2/accounts
    assert balance["total"]["USD"] == 100_000.0 and balance["total"]["BTC"] == 1.0
    accounts = exchange.fetch_accounts()  # GET /api/v3/brokerage/accounts
    assert {a["code"] for a in accounts} == {"BTC", "ETH", "SOL", "USD"}


def test_place_get_list_edit_cancel(exchange: Any):
    exchange.load_markets()
    order = exchange.create_order("BTC/USD", "limit", "buy", 0.01, 59000)
    got = exchange.fetch_order(order["id"], "BTC/USD")
    assert (got["status"], got["price"], got["amount"]) == ("open", 59000.0, 0.01)
    assert order["id"] in [o["id"] for o in exchange.fetch_open_orders("BTC/USD")]
    edited = exchange.edit_order(order["id"], "BTC/USD", "limit", "buy", 0.02, 58000)
    assert edited["info"]["success"] is True
    got = exchange.fetch_order(order["id"], "BTC/USD")
    assert (got["price"], got["amount"]) == (58000.0, 0.02)
    exchange.cancel_order(order["id"], "BTC/USD")
    assert exchange.fetch_order(order["id"], "BTC/USD")["status"] == "canceled"
    preview = exchange.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"preview": True})
    assert preview["status"] is None  # a preview places nothing (ccxt parses an empty order)
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USD")] == []


def test_stop_limit_orders(exchange: Any):
    exchange.load_markets()
    stop = exchange.create_order(
        "BTC/USD",
        "limit",
        "sell",
        0.1,
        57000,
        {"stopPrice": 57500, "stop_direction": "STOP_DIRECTION_STOP_DOWN"},
    )
    got = exchange.fetch_order(stop["id"], "BTC/USD")
    assert (got["type"], got["triggerPrice"], got["status"]) == ("limit", 57500.0, "open")
    exchange.cancel_order(stop["id"], "BTC/USD")


def test_the_order_types_ccxt_sends_are_traded(exchange: Any):
    """ccxt's trigger price on a sell defaults to STOP_UP; IOC/FOK and market orders."""
    exchange.load_markets()
    up = exchange.create_order("BTC/USD", "limit", "sell", 0.01, 63900, {"stopPrice": 64000})
    got = exchange.fetch_order(up["id"], "BTC/USD")
    assert (got["status"], got["triggerPrice"]) == ("open", 64000.0)
    assert got["info"]["order_configuration"]["stop_limit_stop_limit_gtc"]["stop_direction"] == (
        "STOP_DIRECTION_STOP_UP"
    )
    exchange.cancel_order(up["id"], "BTC/USD")
    ioc = exchange.create_order("BTC/USD", "limit", "buy", 0.01, 60500, {"timeInForce": "IOC"})
    got = exchange.fetch_order(ioc["id"], "BTC/USD")
    assert (got["status"], got["filled"], got["timeInForce"]) == ("closed", 0.01, "IOC")
    fok = exchange.create_order("BTC/USD", "limit", "buy", 0.01, 59000, {"timeInForce": "FOK"})
    got = exchange.fetch_order(fok["id"], "BTC/USD")
    assert (got["status"], got["filled"]) == ("canceled", 0.0)  # below the market: killed
    market = exchange.create_order("BTC/USD", "market", "sell", 0.01)
    got = exchange.fetch_order(market["id"], "BTC/USD")
    assert (got["status"], got["type"], got["filled"]) == ("closed", "market", 0.01)


def test_fills_after_a_forced_fill(exchange: Any, admin: Api):
    exchange.load_markets()
    order = exchange.create_order("ETH/USD", "limit", "buy", 0.5, 2000)
    fills = admin.print_trade("1999.00", "5", product="ETH-USD")
    assert [f["order_id"] for f in fills] == [order["id"]]
    got = exchange.fetch_order(order["id"], "ETH/USD")
    assert (got["status"], got["filled"], got["average"]) == ("closed", 0.5, 2000.0)
    mine = exchange.fetch_my_trades("ETH/USD")
    assert [(t["order"], t["price"], t["amount"]) for t in mine] == [(order["id"], 2000.0, 0.5)]
    assert mine[0]["fee"]["cost"] > 0
    assert order["id"] in [o["id"] for o in exchange.fetch_closed_orders("ETH/USD")]


def test_ccxt_pro_watch_ticker_trades_book_and_orders(tls_sim: SimServer, admin: Api):
    async def run() -> None:
        ex = ccxt.pro.coinbase(
            {
                "apiKey": tls_sim.key_name,
                "secret": tls_sim.private_key_pem,
                "cafile": str(tls_sim.ca_file),
            }
        )
        ex.urls["api"]["rest"] = tls_sim.base_url
        ex.urls["api"]["ws"] = tls_sim.ws_url
        try:
            await ex.load_markets()
            ticker = await asyncio.wait_for(ex.watch_ticker("BTC/USD"), 5)
            assert (ticker["symbol"], ticker["last"]) == ("BTC/USD", 59990.0)
            trades = await asyncio.wait_for(ex.watch_trades("BTC/USD"), 5)
            assert trades and trades[-1]["symbol"] == "BTC/USD"
            book = await asyncio.wait_for(ex.watch_order_book("BTC/USD"), 5)
            assert book["bids"][0][0] < book["asks"][0][0]

            order = await ex.create_order("SOL/USD", "limit", "buy", 1, 100)
            first = await asyncio.wait_for(ex.watch_orders("SOL/USD"), 5)
            assert order["id"] in [o["id"] for o in first]
            await asyncio.to_thread(admin.print_trade, "99.00", "5", "SOL-USD")
            for _ in range(10):  # bounded: the fill's update arrives within a few messages
                try:
                    updates = await asyncio.wait_for(ex.watch_orders("SOL/USD"), 3)
                except TimeoutError:
                    # the update came between two watches: ccxt.pro keeps what the stream
                    # delivered in its order cache
                    updates = list(ex.orders or [])
                mine = [o for o in updates if o["id"] == order["id"]]
                if mine and mine[-1]["status"] == "closed":
                    break
            assert mine[-1]["filled"] == 1.0

            more = asyncio.ensure_future(ex.watch_trades("SOL/USD"))
            prices = ("101.00", "101.50", "102.00", "102.50", "103.00")
            for price in prices:  # bounded: until a print lands after the subscription
                await asyncio.to_thread(admin.print_trade, price, "2", "SOL-USD")
                done, _ = await asyncio.wait({more}, timeout=1)
                if done:
                    break
            trades = await asyncio.wait_for(more, 5)
            assert trades[-1]["price"] in (99.0, *(float(p) for p in prices))
        finally:
            await ex.close()

    asyncio.run(run())
