"""The official SDK (`coinbase-advanced-py`) talks to the simulator over TLS unchanged.

Needs the SDK installed (a dev dependency). It builds its own JWTs (`uri` = "METHOD
host:port/path") and sends `https://{base_url}{path}` with `requests`, which trusts the
simulator's CA through REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest
from coinbase.rest import RESTClient

from tradekit.sim.server import SimServer


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory: pytest.TempPathFactory):
    keys = tmp_path_factory.mktemp("sdk") / "cdp_api_key.json"
    with SimServer(tls=True, keys_file=keys, rate_limit_per_s=1000) as server:
        yield server


def test_the_official_sdk_lists_places_and_reads_back(tls_sim: SimServer, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_sim.ca_file))
    assert tls_sim.keys_file is not None
    client = RESTClient(key_file=str(tls_sim.keys_file), base_url=tls_sim.host_port)
    tls_sim.call(lambda st: None)  # the loop is up
    accounts = client.get_accounts()
    assert {a.currency for a in accounts.accounts} == {"BTC", "ETH", "SOL", "USD"}
    usd = next(a for a in accounts.accounts if a.currency == "USD")
    assert usd.available_balance["value"] == "100000"

    from tradekit.core.events import MarketTrade

    tls_sim.call(
        lambda st: st.advance(MarketTrade("BTC-USD", D("60000.00"), D("1"), time.time_ns()))
    )
    placed = client.limit_order_gtc_buy(
        "sdk-1", "BTC-USD", base_size="0.01", limit_price="59000.00"
    )
    assert placed.success is True
    order_id = placed.success_response["order_id"]
    order = client.get_order(order_id).order
    assert (order.order_id, order.client_order_id, order.status) == (order_id, "sdk-1", "OPEN")
    assert order.order_configuration.limit_limit_gtc.limit_price == "59000.00"
    listed = client.list_orders(product_ids=["BTC-USD"], order_status=["OPEN"], limit=10)
    assert [o.order_id for o in listed.orders] == [order_id] and listed.has_next is False

    edited = client.edit_order(order_id, size="0.02", price="58000.00")
    assert edited.success is True
    stop = client.stop_limit_order_gtc_sell(
        "sdk-stop",
        "BTC-USD",
        base_size="0.5",
        limit_price="57000.00",
        stop_price="57500.00",
        stop_direction="STOP_DIRECTION_STOP_DOWN",
    )
    assert stop.success is True
    refused = client.stop_limit_order_gtc_sell(
        "sdk-stop-2",
        "BTC-USD",
        base_size="0.6",
        limit_price="57000.00",
        stop_price="57500.00",
        stop_direction="STOP_DIRECTION_STOP_DOWN",
    )
    assert refused.success is False
    assert refused.error_response["error"] == "INSUFFICIENT_FUND"

    cancelled = client.cancel_orders([order_id])
    assert cancelled.results[0].success is True
    assert client.get_fills(order_ids=[order_id]).fills == []
    assert client.get_product("BTC-USD").price == "60000.00"
    assert client.get_best_bid_ask(product_ids=["BTC-USD"]).pricebooks[0].product_id == "BTC-USD"
    assert int(client.get_unix_time().epoch_seconds) > 0
    now = int(time.time())
    candles = client.get_public_candles("BTC-USD", str(now - 600), str(now + 60), "ONE_MINUTE")
    assert candles.candles and candles.candles[0].close == "60000.00"
