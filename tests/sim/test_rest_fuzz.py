"""Property-based fuzzing of the simulator's REST endpoints: whatever a client sends, the
answer is Coinbase's shape (a 200 business answer or a 4xx error object), never a 500,
and the server keeps serving."""

from __future__ import annotations

import json
from typing import Any

from helpers.simhelp import Api, make_jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NUMBERS = st.one_of(
    st.from_regex(r"-?[0-9]{0,30}(\.[0-9]{0,30})?", fullmatch=True),
    st.sampled_from(["9" * 24, "0", "-0", "1e5", "NaN", "Infinity", "0.00000001", "60000.00"]),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
)
LEAVES = st.one_of(NUMBERS, st.text(max_size=20))
JSON = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
CONFIG_KEYS = st.sampled_from(
    [
        "limit_limit_gtc",
        "limit_limit_gtd",
        "limit_limit_fok",
        "sor_limit_ioc",
        "market_market_ioc",
        "stop_limit_stop_limit_gtc",
        "stop_limit_stop_limit_gtd",
        "twap_limit_gtd",
        "nonsense",
    ]
)
CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "base_size": NUMBERS,
        "quote_size": NUMBERS,
        "limit_price": NUMBERS,
        "stop_price": NUMBERS,
        "stop_direction": st.sampled_from(
            ["STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN", "UP", ""]
        ),
        "end_time": st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01", "x", ""]),
        "post_only": st.one_of(st.booleans(), st.text(max_size=3)),
    },
)
ORDER = st.fixed_dictionaries(
    {},
    optional={
        "client_order_id": st.one_of(st.text(max_size=140), st.integers()),
        "product_id": st.sampled_from(["BTC-USD", "ETH-USD", "NOPE-USD", "", "btc-usd"]),
        "side": st.sampled_from(["BUY", "SELL", "buy", "", "HOLD"]),
        "order_configuration": st.one_of(st.dictionaries(CONFIG_KEYS, CONFIG, max_size=2), JSON),
        "extra": JSON,
    },
)
EDIT = st.fixed_dictionaries(
    {},
    optional={
        "order_id": st.one_of(st.text(max_size=40), st.integers()),
        "price": NUMBERS,
        "size": NUMBERS,
        "stop_price": NUMBERS,
    },
)
QUERY = st.dictionaries(
    st.sampled_from(
        [
            "limit",
            "cursor",
            "product_id",
            "product_ids",
            "order_status",
            "granularity",
            "start",
            "end",
            "currency",
            "order_ids",
            "colour",
        ]
    ),
    st.text(max_size=30),
    max_size=4,
)
GETS = st.sampled_from(
    [
        "/orders/historical/batch",
        "/orders/historical/fills",
        "/accounts",
        "/transaction_summary",
        "/products",
        "/products/BTC-USD/candles",
        "/products/BTC-USD/ticker",
        "/market/products/BTC-USD/ticker",
        "/best_bid_ask",
        "/product_book",
        "/v2/exchange-rates",
        "/v2/accounts",
    ]
)
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(r: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    body = r.json()
    if r.status_code >= 400:
        assert ("error" in body and "message" in body) or "errors" in body, body


def _post(api: Api, path: str, body: Any) -> Any:
    text = json.dumps(body, allow_nan=True)  # floats and NaN on purpose
    return api.request("POST", path, content=text, headers={"Content-Type": "application/json"})


@FUZZ
@given(body=st.one_of(ORDER, JSON))
def test_orders_and_previews(api: Api, body: Any):
    api.print_trade("60000.00")
    _check(_post(api, "/orders", body))
    _check(_post(api, "/orders/preview", body))


@FUZZ
@given(body=st.one_of(EDIT, JSON))
def test_edits_and_cancels(api: Api, body: Any):
    _check(_post(api, "/orders/edit", body))
    _check(_post(api, "/orders/edit_preview", body))
    _check(_post(api, "/orders/batch_cancel", body))
    _check(_post(api, "/orders/batch_cancel", {"order_ids": body}))


@FUZZ
@given(path=GETS, query=QUERY)
def test_queries(api: Api, path: str, query: dict[str, str]):
    if path.startswith("/v2/"):
        token = make_jwt(api.key, api.server.key_name, f"GET {api.server.host_port}{path}")
        r = api.client.get(path, params=query, headers={"Authorization": f"Bearer {token}"})
        _check(r)
    else:
        _check(api.get(path, params=query))
    assert api.get("/accounts").status_code == 200
