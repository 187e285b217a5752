"""Malformed requests get 400 INVALID_ARGUMENT naming the field (413 when too big), and
the server keeps serving."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers.simhelp import Api

GOOD = {
    "client_order_id": "input-ok",
    "product_id": "BTC-USD",
    "side": "BUY",
    "order_configuration": {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00"}},
}


def bad(r, *words: str) -> dict[str, Any]:
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["error"] == "INVALID_ARGUMENT"
    assert body["message"] == body["error_details"]
    for word in words:
        assert word in body["message"], (word, body["message"])
    return body


def with_config(**inner: Any) -> dict[str, Any]:
    config = {"base_size": "0.01", "limit_price": "1000.00", **inner}
    return {**GOOD, "order_configuration": {"limit_limit_gtc": config}}


def raw_post(api: Api, path: str, content: bytes) -> Any:
    return api.request("POST", path, content=content, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", ("not valid JSON",)),
        (b"", ("empty",)),
        (b"[1, 2]", ("body", "object")),
        (b'{"client_order_id": "a", "client_order_id": "b"}', ("client_order_id", "twice")),
        (b'{"x": NaN}', ("NaN",)),
        (b"[" * 5000 + b"]" * 5000, ("not valid JSON",)),
        (b"\xff\xfe\x00garbage", ("not valid JSON",)),
    ],
)
def test_bodies_that_are_not_a_json_object(api: Api, content: bytes, words: tuple[str, ...]):
    bad(raw_post(api, "/orders", content), *words)
    assert api.get("/accounts").status_code == 200  # still serving


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**GOOD, "colour": "red"}, ("colour", "unknown field")),
        (
            {k: v for k, v in GOOD.items() if k != "client_order_id"},
            ("client_order_id", "required"),
        ),
        ({k: v for k, v in GOOD.items() if k != "side"}, ("side", "required")),
        ({k: v for k, v in GOOD.items() if k != "order_configuration"}, ("order_configuration",)),
        ({**GOOD, "client_order_id": 7}, ("client_order_id", "string")),
        ({**GOOD, "client_order_id": ""}, ("client_order_id", "empty")),
        ({**GOOD, "client_order_id": "x" * 129}, ("client_order_id", "longer")),
        ({**GOOD, "order_configuration": {}}, ("exactly one",)),
        ({**GOOD, "order_configuration": {"limit_limit_gct": {}}}, ("limit_limit_gct", "unknown")),
        (
            {**GOOD, "order_configuration": {"limit_limit_gtc": {}, "limit_limit_gtd": {}}},
            ("exactly one",),
        ),
        (with_config(colour="red"), ("order_configuration.limit_limit_gtc.colour", "unknown")),
        (with_config(limit_price=None), ("limit_price", "required")),
        (with_config(base_size=None), ("base_size", "required")),
        (with_config(limit_price=1000), ("limit_price", "JSON number")),
        (with_config(post_only="false"), ("post_only", "true or false")),
        (with_config(limit_price="1e3"), ("limit_price", "plain decimal")),
        (with_config(limit_price="NaN"), ("limit_price",)),
        (with_config(limit_price=" 1000"), ("limit_price",)),
        (with_config(limit_price="1" * 30), ("limit_price",)),
        (with_config(end_time="2030-01-01T00:00:00Z"), ("end_time", "unknown")),
        (
            {
                **GOOD,
                "order_configuration": {
                    "limit_limit_gtd": {
                        "base_size": "1",
                        "limit_price": "1.00",
                        "end_time": "tomorrow",
                    }
                },
            },
            ("end_time", "RFC3339"),
        ),
        (
            {
                **GOOD,
                "order_configuration": {
                    "stop_limit_stop_limit_gtc": {
                        "base_size": "1",
                        "limit_price": "1.00",
                        "stop_price": "1.00",
                        "stop_direction": "SIDEWAYS",
                    }
                },
            },
            ("stop_direction",),
        ),
    ],
)
def test_malformed_orders_name_the_field(api: Api, body: dict[str, Any], words: tuple[str, ...]):
    bad(api.post("/orders", json=body), *words)


def test_a_float_price_sent_as_a_json_number_is_refused(api: Api):
    text = json.dumps(GOOD).replace('"1000.00"', "1000.5")
    assert "1000.5" in text
    bad(raw_post(api, "/orders", text.encode()), "limit_price", "JSON number")
    assert api.ok("POST", "/orders", json=GOOD)["success"] is True


def test_an_oversized_body_gets_413_and_the_server_goes_on(api: Api):
    big = json.dumps({**GOOD, "client_order_id": "x" * 100_000}).encode()
    r = raw_post(api, "/orders", big)
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "PAYLOAD_TOO_LARGE"

    def chunks():  # no Content-Length: the cap still holds while reading
        for _ in range(20):
            yield b" " * 8192

    r = api.request("POST", "/orders", content=chunks())
    assert r.status_code == 413
    assert api.get("/accounts").status_code == 200


def test_other_bodies_and_queries(api: Api):
    bad(api.post("/orders/batch_cancel", json={"order_ids": "abc"}), "order_ids", "array")
    bad(api.post("/orders/batch_cancel", json={"order_ids": [1]}), "order_ids[0]")
    bad(api.post("/orders/batch_cancel", json={"order_ids": ["a"] * 101}), "at most 100")
    bad(api.post("/orders/batch_cancel", json={}), "order_ids", "required")
    bad(api.post("/orders/edit", json={"order_id": "a", "price": "1.00"}), "size", "required")
    bad(api.post("/orders/edit", json={"order_id": "a", "price": 1, "size": "1"}), "price")
    bad(api.get("/orders/historical/batch", params={"colour": "red"}), "colour", "query")
    bad(api.get("/orders/historical/batch", params={"limit": "ten"}), "limit", "integer")
    bad(api.get("/orders/historical/batch", params={"limit": "0"}), "limit")
    bad(api.get("/orders/historical/batch", params={"cursor": "abc"}), "cursor")
    bad(api.get("/orders/historical/batch", params={"order_status": "DONE"}), "order_status")
    bad(api.get("/orders/historical/fills", params={"start_sequence_timestamp": "x"}), "RFC3339")
    bad(api.get("/accounts", params={"cursor": "-1"}), "cursor")
    assert api.get("/accounts").status_code == 200


def test_unknown_orders_routes_and_methods(api: Api):
    r = api.get("/orders/historical/no-such-order")
    assert r.status_code == 404
    assert r.json() == {
        "error": "NOT_FOUND",
        "error_details": "order with this orderID was not found",
        "message": "order with this orderID was not found",
    }
    r = api.get("/no/such/endpoint", auth=False)
    assert r.status_code == 404 and r.json()["error"] == "NOT_FOUND"
    r = api.request("DELETE", "/orders")
    assert r.status_code == 405 and r.json()["error"] == "METHOD_NOT_ALLOWED"
    assert api.get("/products/NOPE-USD").status_code == 404
