"""Every REST endpoint: its reply shape, and its refusals in Coinbase's error shape while
the server keeps serving (bad auth, wrong `uri`, expired token, malformed input,
unknown product, bad increments); never a 500."""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import pytest
from helpers.simhelp import API, Api, make_jwt

from tradekit.sim.server import SimServer

# (method, path under /api/v3/brokerage or absolute /v2/..., body or query, public?)
PRIVATE = [
    ("POST", "/orders", {}),
    ("POST", "/orders/preview", {}),
    ("POST", "/orders/batch_cancel", {}),
    ("POST", "/orders/edit", {}),
    ("POST", "/orders/edit_preview", {}),
    ("GET", "/orders/historical/batch", None),
    ("GET", "/orders/historical/fills", None),
    ("GET", "/orders/historical/some-order", None),
    ("GET", "/accounts", None),
    ("GET", "/accounts/some-account", None),
    ("GET", "/transaction_summary", None),
    ("GET", "/products", None),
    ("GET", "/products/BTC-USD", None),
    ("GET", "/products/BTC-USD/candles", None),
    ("GET", "/products/BTC-USD/ticker", None),
    ("GET", "/best_bid_ask", None),
    ("GET", "/product_book", None),
    ("GET", "/v2/accounts", None),
]
PUBLIC = [
    "/time",
    "/market/products",
    "/market/products/BTC-USD",
    "/market/products/BTC-USD/ticker?limit=1",
    "/v2/currencies",
    "/v2/currencies/crypto",
    "/v2/exchange-rates",
    "/v2/time",
]


def _url(path: str) -> str:
    return path if path.startswith("/v2/") else API + path


def _call(api: Api, method: str, path: str, token: str | None, body: Any = None) -> Any:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return api.client.request(method, _url(path), headers=headers, json=body)


def _signed(api: Api, method: str, path: str, **kw: Any) -> str:
    return make_jwt(
        api.key, api.server.key_name, f"{method} {api.server.host_port}{_url(path)}", **kw
    )


@pytest.mark.parametrize(("method", "path", "body"), PRIVATE)
def test_private_endpoints_refuse_bad_tokens_with_401(api: Api, method: str, path: str, body: Any):
    hp = api.server.host_port
    now = int(time.time())
    for token in [
        None,  # no token
        "not-a-jwt",
        _signed(api, "DELETE" if method == "GET" else "GET", path),  # wrong uri (method)
        make_jwt(api.key, api.server.key_name, f"{method} {hp}{API}/elsewhere"),  # wrong path
        _signed(api, method, path, now=now - 300),  # expired
        _signed(api, method, path, iss="someone"),  # issuer
    ]:
        r = _call(api, method, path, token, body)
        assert (r.status_code, r.text) == (401, "Unauthorized"), (path, r.status_code, r.text)
    # and a good token gets past authentication (whatever the endpoint then says)
    r = _call(api, method, path, _signed(api, method, path), body)
    assert r.status_code not in (401, 500), (path, r.status_code, r.text)
    assert api.get("/accounts").status_code == 200  # still serving


@pytest.mark.parametrize("path", PUBLIC)
def test_public_endpoints_answer_without_a_token(api: Api, path: str):
    r = api.client.get(_url(path))
    assert r.status_code == 200, (path, r.text)
    assert r.headers["content-type"] == "application/json"


def _error_shape(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "error_details", "message"}, body
    return body


def test_v2_currencies_exchange_rates_and_time(api: Api):
    api.print_trade("50000.00", product="BTC-USD")
    api.print_trade("2500.00", product="ETH-USD")
    fiat = api.client.get("/v2/currencies").json()["data"]
    assert fiat == [{"id": "USD", "name": "US Dollar", "min_size": "0.01"}]
    crypto = api.client.get("/v2/currencies/crypto").json()["data"]
    assert [c["code"] for c in crypto] == ["BTC", "ETH", "SOL"]
    assert {"asset_id", "code", "name", "color", "sort_index", "exponent", "type"} <= set(crypto[0])
    assert all(c["type"] == "crypto" for c in crypto)
    rates = api.client.get("/v2/exchange-rates").json()["data"]
    assert rates["currency"] == "USD"
    assert (D(rates["rates"]["BTC"]), D(rates["rates"]["ETH"])) == (D("0.00002"), D("0.0004"))
    assert rates["rates"]["USD"] == "1"
    btc = api.client.get("/v2/exchange-rates", params={"currency": "BTC"}).json()["data"]
    assert (btc["currency"], D(btc["rates"]["USD"]), D(btc["rates"]["ETH"])) == (
        "BTC",
        D(50000),
        D(20),
    )
    r = api.client.get("/v2/exchange-rates", params={"currency": "XYZ"})
    assert r.status_code == 400 and r.json()["errors"][0]["id"] == "invalid_request"
    r = api.client.get("/v2/exchange-rates", params={"colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["errors"][0]["message"]
    now = api.client.get("/v2/time").json()["data"]
    assert abs(now["epoch"] - time.time()) < 5 and now["iso"].endswith("Z")


def test_v2_accounts_are_whole_balances(api: Api):
    token = _signed(api, "GET", "/v2/accounts")
    r = api.client.get("/v2/accounts", headers={"Authorization": f"Bearer {token}"})
    body = r.json()
    assert set(body) == {"pagination", "data"}
    by = {a["currency"]["code"]: a for a in body["data"]}
    assert by["USD"]["balance"] == {"amount": "100000", "currency": "USD"}
    assert by["USD"]["type"] == "fiat" and by["BTC"]["type"] == "wallet"
    assert by["BTC"]["resource_path"] == f"/v2/accounts/{by['BTC']['id']}"


def test_transaction_summary_is_the_fee_tier(api: Api):
    body = api.ok("GET", "/transaction_summary")
    tier = body["fee_tier"]
    assert (tier["maker_fee_rate"], tier["taker_fee_rate"]) == ("0.004", "0.006")
    assert isinstance(body["total_volume"], int | float) and body["total_volume"] >= 0
    assert body["has_promo_fee"] is False
    _error_shape(api.get("/transaction_summary", params={"colour": "red"}), 400)


def test_market_trades_newest_first_with_best_bid_and_ask(api: Api):
    for price in ("100.00", "101.00", "100.50"):
        api.print_trade(price, "2", product="SOL-USD")
    for path, auth in (
        ("/products/SOL-USD/ticker", True),
        ("/market/products/SOL-USD/ticker", False),
    ):
        body = api.ok("GET", path, params={"limit": 2}, auth=auth)
        assert [t["price"] for t in body["trades"]] == ["100.50", "101.00"]
        assert [t["side"] for t in body["trades"]] == ["SELL", "BUY"]
        trade = body["trades"][0]
        keys = {"trade_id", "product_id", "price", "size", "time", "side", "bid", "ask", "exchange"}
        assert set(trade) == keys  # as recorded from Coinbase (bid and ask empty)
        assert (trade["bid"], trade["ask"], trade["exchange"]) == ("", "", "coinbase")
        assert D(body["best_bid"]) < D(body["best_ask"])
    assert _error_shape(api.get("/products/SOL-USD/ticker"), 400)["message"] == "limit: required"
    _error_shape(api.get("/products/SOL-USD/ticker", params={"limit": "x"}), 400)
    assert _error_shape(api.get("/products/NOPE-USD/ticker", params={"limit": 1}), 404)


def _order(config_key: str, side: str = "BUY", product: str = "BTC-USD", **inner: Any):
    return {
        "client_order_id": f"c-{time.time_ns()}",
        "product_id": product,
        "side": side,
        "order_configuration": {config_key: inner},
    }


def test_preview_checks_without_placing(api: Api):
    api.print_trade("50000.00")
    good = _order("limit_limit_gtc", base_size="0.01", limit_price="49000.00")
    body = api.ok("POST", "/orders/preview", json=good)
    assert body["errs"] == [] and body["base_size"] == "0.01"
    assert D(body["commission_total"]) == D("2.94") and D(body["order_total"]) == D("492.94")
    assert (
        api.ok("GET", "/orders/historical/batch", params={"order_status": "OPEN"})["orders"] == []
    )
    for inner, err in [
        ({"base_size": "0.01", "limit_price": "49000.001"}, "PREVIEW_INVALID_PRICE_PRECISION"),
        ({"base_size": "0.000000001", "limit_price": "49000.00"}, "PREVIEW_INVALID_SIZE_PRECISION"),
        ({"base_size": "1000", "limit_price": "49000.00"}, "PREVIEW_INSUFFICIENT_FUND"),
    ]:
        assert api.ok("POST", "/orders/preview", json=_order("limit_limit_gtc", **inner))[
            "errs"
        ] == [err]
    stop = _order(
        "stop_limit_stop_limit_gtc",
        "SELL",
        base_size="0.1",
        limit_price="50500.00",
        stop_price="51000.00",
        stop_direction="STOP_DIRECTION_STOP_DOWN",
    )
    errs = api.ok("POST", "/orders/preview", json=stop)["errs"]
    assert errs == ["PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE"]
    unknown = _order("limit_limit_gtc", product="NOPE-USD", base_size="1", limit_price="1")
    assert api.ok("POST", "/orders/preview", json=unknown)["errs"] == ["PREVIEW_INVALID_PRODUCT_ID"]
    _error_shape(api.post("/orders/preview", json={"product_id": "BTC-USD"}), 400)


def test_edit_preview_checks_without_editing(api: Api):
    api.print_trade("50000.00")
    order_id = api.buy(f"ep-{time.time_ns()}", "40000.00")["success_response"]["order_id"]
    body = api.ok(
        "POST",
        "/orders/edit_preview",
        json={"order_id": order_id, "price": "39000.00", "size": "0.02"},
    )
    assert body["errors"] == [] and body["base_size"] == "0.02"
    assert (
        api.order(order_id)["order_configuration"]["limit_limit_gtc"]["limit_price"] == "40000.00"
    )
    bad = api.ok(
        "POST",
        "/orders/edit_preview",
        json={"order_id": order_id, "price": "39000.001", "size": "0.02"},
    )
    assert bad["errors"][0]["preview_failure_reason"] == "PREVIEW_INVALID_PRICE_PRECISION"
    missing = api.ok(
        "POST", "/orders/edit_preview", json={"order_id": "nope", "price": "1.00", "size": "1"}
    )
    assert missing["errors"][0]["edit_failure_reason"] == "ORDER_NOT_FOUND"
    _error_shape(api.post("/orders/edit_preview", json={"order_id": order_id}), 400)


def _placed(api: Api, key: str, side: str, product: str = "ETH-USD", **inner: Any):
    body = api.ok("POST", "/orders", json=_order(key, side, product, **inner))
    assert body["success"] is True, body
    assert body["order_configuration"] == {key: inner}
    return api.order(body["success_response"]["order_id"])


def test_market_ioc_fills_at_once_against_the_last_trade(api: Api):
    api.print_trade("2000.00", "5", product="ETH-USD")
    buy = _placed(api, "market_market_ioc", "BUY", quote_size="100.00")
    assert (buy["status"], buy["order_type"], buy["time_in_force"]) == (
        "FILLED",
        "MARKET",
        "IMMEDIATE_OR_CANCEL",
    )
    assert buy["order_configuration"] == {"market_market_ioc": {"quote_size": "100.00"}}
    assert buy["size_in_quote"] is True and buy["average_filled_price"] == "2000.00"
    assert D(buy["filled_value"]) + D(buy["total_fees"]) <= D("100.00")  # spends at most that
    sell = _placed(api, "market_market_ioc", "SELL", base_size="0.5")
    assert (sell["status"], sell["filled_size"], sell["order_type"]) == ("FILLED", "0.5", "MARKET")
    fills = api.ok("GET", "/orders/historical/fills", params={"order_ids": sell["order_id"]})
    assert [(f["price"], f["liquidity_indicator"]) for f in fills["fills"]] == [
        ("2000.00", "TAKER")
    ]


def test_limit_ioc_and_fok_fill_what_they_can_and_cancel_the_rest(api: Api):
    api.print_trade("2000.00", "5", product="ETH-USD")
    ioc = _placed(api, "sor_limit_ioc", "BUY", base_size="0.1", limit_price="2001.00")
    assert (ioc["status"], ioc["filled_size"], ioc["time_in_force"]) == (
        "FILLED",
        "0.1",
        "IMMEDIATE_OR_CANCEL",
    )
    missed = _placed(api, "sor_limit_ioc", "BUY", base_size="0.1", limit_price="1999.00")
    assert (missed["status"], missed["filled_size"]) == ("CANCELLED", "0")
    fok = _placed(api, "limit_limit_fok", "SELL", base_size="0.2", limit_price="1999.00")
    assert (fok["status"], fok["time_in_force"]) == ("FILLED", "FILL_OR_KILL")
    killed = _placed(api, "limit_limit_fok", "SELL", base_size="0.2", limit_price="2001.00")
    assert (killed["status"], killed["filled_size"]) == ("CANCELLED", "0")


def test_stop_up_and_buy_stops_trigger_on_a_rise(api: Api):
    api.print_trade("2000.00", "5", product="ETH-USD")
    up_sell = _placed(
        api,
        "stop_limit_stop_limit_gtc",
        "SELL",
        base_size="0.1",
        limit_price="2090.00",
        stop_price="2100.00",
        stop_direction="STOP_DIRECTION_STOP_UP",
    )
    buy_stop = _placed(
        api,
        "stop_limit_stop_limit_gtc",
        "BUY",
        base_size="0.1",
        limit_price="2120.00",
        stop_price="2110.00",
        stop_direction="STOP_DIRECTION_STOP_UP",
    )
    for o in (up_sell, buy_stop):
        assert (o["status"], o["trigger_status"]) == ("OPEN", "STOP_PENDING")
    api.print_trade("2050.00", "5", product="ETH-USD")  # not yet
    assert api.order(up_sell["order_id"])["trigger_status"] == "STOP_PENDING"
    api.print_trade("2115.00", "5", product="ETH-USD")  # both trigger and fill
    for o in (up_sell, buy_stop):
        got = api.order(o["order_id"])
        assert (got["status"], got["trigger_status"]) == ("FILLED", "STOP_TRIGGERED"), got
    sell = api.order(up_sell["order_id"])
    cfg = sell["order_configuration"]["stop_limit_stop_limit_gtc"]
    assert cfg["stop_direction"] == "STOP_DIRECTION_STOP_UP"


def test_malformed_requests_never_get_a_500(sim: SimServer, api: Api):
    junk: list[Any] = [None, [], "x", 1, {"order_ids": [None]}, {"order_configuration": []}]
    for method, path, _ in PRIVATE:
        for body in junk if method == "POST" else [None]:
            r = _call(api, method, path, _signed(api, method, path), body)
            assert r.status_code < 500, (path, body, r.status_code, r.text)
            if r.status_code >= 400 and not path.startswith("/v2/"):
                _error_shape(r, r.status_code)
    assert api.get("/accounts").status_code == 200
