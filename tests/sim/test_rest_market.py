"""Accounts, products, candles, book and time, private and public (`/market/...`)."""

from __future__ import annotations

import time
from decimal import Decimal as D

from helpers.simhelp import Api

NS = 1_000_000_000


def test_server_time(api: Api):
    body = api.ok("GET", "/time", auth=False)
    assert set(body) == {"iso", "epochSeconds", "epochMillis"}
    assert isinstance(body["epochSeconds"], str) and body["iso"].endswith("Z")
    assert abs(int(body["epochSeconds"]) - time.time()) < 5
    assert int(body["epochMillis"]) // 1000 == int(body["epochSeconds"])


def test_accounts_default_balances_and_pages(api: Api):
    body = api.ok("GET", "/accounts")
    by_currency = {a["currency"]: a for a in body["accounts"]}
    assert set(by_currency) == {"BTC", "ETH", "SOL", "USD"}
    assert body["has_next"] is False and body["cursor"] == "" and body["size"] == 4
    usd = by_currency["USD"]
    assert usd["available_balance"] == {"value": "100000", "currency": "USD"}
    assert usd["hold"] == {"value": "0", "currency": "USD"}
    assert by_currency["BTC"]["available_balance"]["value"] == "1"
    assert by_currency["ETH"]["available_balance"]["value"] == "10"
    assert len({a["uuid"] for a in body["accounts"]}) == 4
    one = api.ok("GET", f"/accounts/{usd['uuid']}")["account"]
    assert one == {**usd, "updated_at": one["updated_at"]}
    seen, cursor = [], None
    while True:
        page = api.ok(
            "GET", "/accounts", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        seen += [a["currency"] for a in page["accounts"]]
        if not page["has_next"]:
            break
        cursor = page["cursor"]
    assert sorted(seen) == ["BTC", "ETH", "SOL", "USD"] and len(seen) == 4


def test_products_private_and_public(api: Api):
    api.print_trade("60000.00", size="0.5")
    api.print_trade("61000.00", size="0.25")
    body = api.ok("GET", "/products")
    assert body["num_products"] == 3
    by_id = {p["product_id"]: p for p in body["products"]}
    btc = by_id["BTC-USD"]
    assert btc["price"] == "61000.00"
    assert (btc["base_increment"], btc["quote_increment"], btc["price_increment"]) == (
        "0.00000001",
        "0.01",
        "0.01",
    )
    assert btc["base_min_size"] == "0.00000001" and btc["base_max_size"] == "3400"
    assert btc["status"] == "online" and btc["trading_disabled"] is False
    assert D(btc["volume_24h"]) >= D("0.75")
    assert btc["product_type"] == "SPOT"
    assert by_id["SOL-USD"]["price"] == ""  # never traded here
    one = api.ok("GET", "/products/BTC-USD")
    public = api.ok("GET", "/market/products/BTC-USD", auth=False)
    assert one["product_id"] == public["product_id"] == "BTC-USD"
    assert api.ok("GET", "/market/products", auth=False)["num_products"] == 3
    only = api.ok("GET", "/products", params=[("product_ids", "ETH-USD")])
    assert [p["product_id"] for p in only["products"]] == ["ETH-USD"]
    assert api.get("/products/NOPE-USD").status_code == 404


def test_candles_from_printed_trades(api: Api):
    # SOL-USD gets its trades here only, at chosen times: two one-minute buckets
    base = (int(time.time()) // 300 - 3) * 300  # a five-minute boundary, 15 min ago
    for offset, price, size in [
        (5, "100.00", "1"),
        (20, "104.00", "2"),
        (50, "99.00", "1"),
        (65, "101.00", "3"),
        (70, "102.00", "1"),
    ]:
        api.print_trade(price, size=size, product="SOL-USD", ts=(base + offset) * NS)
    params = {"start": str(base), "end": str(base + 300), "granularity": "ONE_MINUTE"}
    body = api.ok("GET", "/products/SOL-USD/candles", params=params)
    assert body["candles"] == [
        {
            "start": str(base + 60),
            "low": "101.00",
            "high": "102.00",
            "open": "101.00",
            "close": "102.00",
            "volume": "4",
        },
        {
            "start": str(base),
            "low": "99.00",
            "high": "104.00",
            "open": "100.00",
            "close": "99.00",
            "volume": "4",
        },
    ]
    five = api.ok(
        "GET",
        "/market/products/SOL-USD/candles",
        auth=False,
        params={**params, "granularity": "FIVE_MINUTE"},
    )
    assert five["candles"] == [
        {
            "start": str(base),
            "low": "99.00",
            "high": "104.00",
            "open": "100.00",
            "close": "102.00",
            "volume": "8",
        }
    ]
    limited = api.ok("GET", "/products/SOL-USD/candles", params={**params, "limit": "1"})
    assert [c["start"] for c in limited["candles"]] == [str(base + 60)]
    # 351 one-minute candles is one too many
    too_many = {"start": str(base), "end": str(base + 351 * 60), "granularity": "ONE_MINUTE"}
    r = api.get("/products/SOL-USD/candles", params=too_many)
    assert r.status_code == 400 and "350" in r.json()["message"]
    r = api.get("/products/SOL-USD/candles", params={"start": "1", "end": "2"})
    assert r.status_code == 400 and "granularity" in r.json()["message"]
    r = api.get("/products/SOL-USD/candles", params={**params, "granularity": "ONE_WEEK"})
    assert r.status_code == 400
    assert api.ok("GET", "/products/ETH-USD/candles", params=params)["candles"] == []


def test_best_bid_ask_and_product_book(api: Api):
    api.print_trade("3000.00", product="ETH-USD")
    body = api.ok("GET", "/best_bid_ask", params=[("product_ids", "ETH-USD")])
    (book,) = body["pricebooks"]
    assert book["product_id"] == "ETH-USD" and book["time"].endswith("Z")
    bid, ask = D(book["bids"][0]["price"]), D(book["asks"][0]["price"])
    assert bid <= D("3000.00") < ask
    assert D(book["bids"][0]["size"]) > 0
    everything = api.ok("GET", "/best_bid_ask")
    assert {b["product_id"] for b in everything["pricebooks"]} == {"BTC-USD", "ETH-USD", "SOL-USD"}
    assert api.get("/best_bid_ask", params={"product_ids": "NOPE"}).status_code == 400

    deep = api.ok("GET", "/product_book", params={"product_id": "ETH-USD", "limit": "5"})
    assert len(deep["pricebook"]["bids"]) == len(deep["pricebook"]["asks"]) == 5
    prices = [D(level["price"]) for level in deep["pricebook"]["bids"]]
    assert prices == sorted(prices, reverse=True)
    assert deep["last"] == "3000.00"
    assert D(deep["mid_market"]) == (bid + ask) / 2
    assert D(deep["spread_absolute"]) == ask - bid and D(deep["spread_bps"]) > 0
    public = api.ok("GET", "/market/product_book", auth=False, params={"product_id": "ETH-USD"})
    assert public["pricebook"]["bids"][0] == deep["pricebook"]["bids"][0]
    r = api.get("/product_book", params={"product_id": "NOPE"})
    assert r.status_code == 400 and r.json()["message"] == "ProductID is invalid"
    assert api.get("/product_book").status_code == 400
