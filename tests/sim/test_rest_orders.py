"""Orders over real sockets: place, get, list, fills, cancel, edit, rejections, pagination.

One server for the module (`sim`); the tests keep out of each other's way by product:
BTC-USD stop-limit lifecycle, ETH-USD holds, SOL-USD and far-below-market BTC buys for
the rest. Tests that need a clean account start their own server (`make_sim`).
"""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from helpers.simhelp import Api

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ORDER_FIELDS = [
    "order_id",
    "client_order_id",
    "product_id",
    "side",
    "status",
    "time_in_force",
    "created_time",
    "completion_percentage",
    "filled_size",
    "average_filled_price",
    "filled_value",
    "number_of_fills",
    "fee",
    "total_fees",
    "total_value_after_fees",
    "order_type",
    "order_configuration",
    "trigger_status",
    "pending_cancel",
    "reject_reason",
    "cancel_message",
    "outstanding_hold_amount",
    "last_fill_time",
    "edit_history",
    "settled",
]
STRING_FIELDS = [
    "completion_percentage",
    "filled_size",
    "average_filled_price",
    "filled_value",
    "number_of_fills",
    "total_fees",
    "total_value_after_fees",
    "outstanding_hold_amount",
]


def strings_only(value: object) -> None:
    """No JSON number anywhere: every amount travels as a string."""
    if isinstance(value, dict):
        for v in value.values():
            strings_only(v)
    elif isinstance(value, list):
        for v in value:
            strings_only(v)
    else:
        assert not isinstance(value, int | float) or isinstance(value, bool), value


def rejected(body: dict, reason: str, preview: str | None = None) -> None:
    assert body["success"] is False, body
    err = body["error_response"]
    if reason.startswith("PREVIEW_"):
        assert body["failure_reason"] == "UNKNOWN_FAILURE_REASON"
        assert err["new_order_failure_reason"] == err["error"] == "UNKNOWN_FAILURE_REASON"
        assert err["preview_failure_reason"] == reason
    else:  # as recorded from Coinbase: the top-level failure_reason says nothing
        assert body["failure_reason"] == "UNKNOWN_FAILURE_REASON"
        assert err["error"] == err["new_order_failure_reason"] == reason
        assert err["preview_failure_reason"] == (preview or "UNKNOWN_PREVIEW_FAILURE_REASON")
    assert err["message"] and err["error_details"] == ""  # as in Coinbase's recorded refusals
    assert body["order_id"] == ""


def test_a_limit_buy_is_placed_shown_and_cancelled(api: Api):
    api.print_trade("60000.00")
    body = api.buy("buy-1", "1000.00", size="0.01", post_only=False)
    assert body["success"] is True
    assert body["failure_reason"] == "UNKNOWN_FAILURE_REASON"  # comes along: key on success
    ok = body["success_response"]
    assert (ok["product_id"], ok["side"], ok["client_order_id"]) == ("BTC-USD", "BUY", "buy-1")
    assert body["order_id"] == ok["order_id"]
    assert body["order_configuration"] == {
        "limit_limit_gtc": {"base_size": "0.01", "limit_price": "1000.00", "post_only": False}
    }
    order = api.order(ok["order_id"])
    for name in ORDER_FIELDS:
        assert name in order, name
    for name in STRING_FIELDS:
        assert isinstance(order[name], str), name
    strings_only(order)
    assert order["status"] == "OPEN"
    assert (order["order_type"], order["trigger_status"]) == ("LIMIT", "INVALID_ORDER_TYPE")
    assert order["time_in_force"] == "GOOD_UNTIL_CANCELLED"
    assert RFC3339.match(order["created_time"])
    assert order["order_configuration"] == body["order_configuration"]
    assert D(order["outstanding_hold_amount"]) == D("10.00") * D("1.006")  # size x limit + fee
    assert (order["filled_size"], order["number_of_fills"], order["completion_percentage"]) == (
        "0",
        "0",
        "0",
    )
    assert order["last_fill_time"] is None and order["settled"] is False

    cancel = api.ok("POST", "/orders/batch_cancel", json={"order_ids": [ok["order_id"], "nope"]})
    assert cancel["results"] == [
        {
            "success": True,
            "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
            "order_id": ok["order_id"],
        },
        {"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": "nope"},
    ]
    again = api.ok("POST", "/orders/batch_cancel", json={"order_ids": [ok["order_id"]]})
    assert again["results"][0]["failure_reason"] == "DUPLICATE_CANCEL_REQUEST"
    order = api.order(ok["order_id"])
    assert (order["status"], order["outstanding_hold_amount"], order["settled"]) == (
        "CANCELLED",
        "0",
        True,
    )


def test_a_stop_limit_rests_triggers_through_a_gap_and_fills(api: Api):
    api.print_trade("60000.00")
    usd_before = api.balance("USD")[0]
    body = api.stop_sell("stop-1", stop="58000.00", limit="57900.00", size="0.5")
    order_id = body["order_id"]
    order = api.order(order_id)
    assert (order["status"], order["order_type"], order["trigger_status"]) == (
        "OPEN",
        "STOP_LIMIT",
        "STOP_PENDING",
    )
    assert order["order_configuration"] == {
        "stop_limit_stop_limit_gtc": {
            "base_size": "0.5",
            "limit_price": "57900.00",
            "stop_price": "58000.00",
            "stop_direction": "STOP_DIRECTION_STOP_DOWN",
        }
    }
    assert order["outstanding_hold_amount"] == "0.5"
    assert api.balance("BTC")[1] >= D("0.5")

    assert api.print_trade("58500.00") == []
    assert api.order(order_id)["trigger_status"] == "STOP_PENDING"
    assert api.print_trade("57800.00") == []  # triggers, but gapped below the limit
    order = api.order(order_id)
    assert (order["status"], order["trigger_status"]) == ("OPEN", "STOP_TRIGGERED")

    fills = api.print_trade("58000.00")  # back above the limit: the resting sell fills
    assert [(f["order_id"], f["price"], f["size"]) for f in fills] == [
        (order_id, "57900.00", "0.5")
    ]
    order = api.order(order_id)
    assert order["status"] == "FILLED" and order["settled"] is True
    assert (order["filled_size"], order["number_of_fills"]) == ("0.5", "1")
    assert D(order["average_filled_price"]) == D("57900.00")
    assert D(order["completion_percentage"]) == 100
    assert D(order["filled_value"]) == D("28950.00")
    assert D(order["total_fees"]) == D("28950.00") * D("0.004")  # maker: it was resting
    assert D(order["total_value_after_fees"]) == D("28950.00") * D("0.996")
    assert RFC3339.match(order["last_fill_time"])
    assert order["outstanding_hold_amount"] == "0"

    listed = api.ok("GET", "/orders/historical/fills", params={"order_ids": order_id})
    (fill,) = listed["fills"]
    strings_only(fill)
    assert fill["trade_type"] == "FILL" and fill["side"] == "SELL"
    assert fill["liquidity_indicator"] == "MAKER"
    assert D(fill["commission"]) == D(order["total_fees"])
    assert RFC3339.match(fill["trade_time"]) and fill["entry_id"] and fill["trade_id"]
    assert api.balance("USD")[0] - usd_before == D("28950.00") * D("0.996")


def test_holds_refuse_a_second_sell_of_the_same_base(api: Api):
    api.print_trade("3000.00", product="ETH-USD")
    first = api.stop_sell("eth-a", "2900.00", "2890.00", size="10", product="ETH-USD")
    assert api.balance("ETH") == (D("0"), D("10"))
    body = api.request(
        "POST",
        "/orders",
        json={
            "client_order_id": "eth-b",
            "product_id": "ETH-USD",
            "side": "SELL",
            "order_configuration": {
                "stop_limit_stop_limit_gtc": {
                    "base_size": "1",
                    "limit_price": "2790.00",
                    "stop_price": "2800.00",
                    "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                }
            },
        },
    ).json()
    rejected(body, "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND")
    # cancel first, then the replacement fits (what a stop move must do)
    api.ok("POST", "/orders/batch_cancel", json={"order_ids": [first["order_id"]]})
    assert api.stop_sell("eth-b", "2800.00", "2790.00", size="1", product="ETH-USD")["success"]
    assert api.balance("ETH") == (D("9"), D("1"))


@pytest.mark.parametrize(
    ("side", "config", "reason", "preview"),
    [
        ("BUY", {"limit_limit_gtc": {"base_size": "0.01", "limit_price": "100.001"}},
         "INVALID_PRICE_PRECISION", "PREVIEW_INVALID_PRICE_PRECISION"),
        ("BUY", {"limit_limit_gtc": {"base_size": "0.000000001", "limit_price": "100.00"}},
         "INVALID_SIZE_PRECISION", "PREVIEW_INVALID_SIZE_PRECISION"),
        ("BUY", {"limit_limit_gtc": {"base_size": "0", "limit_price": "100.00"}},
         "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", None),
        ("BUY", {"limit_limit_gtc": {"base_size": "1", "limit_price": "-5"}},
         "INVALID_LIMIT_PRICE", "PREVIEW_INVALID_LIMIT_PRICE"),
        ("BUY", {"limit_limit_gtc": {"base_size": "1000", "limit_price": "150.00"}},
         "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND"),
        ("BUY", {"limit_limit_gtc": {"base_size": "1", "limit_price": "150.00", "post_only": True}},
         "INVALID_LIMIT_PRICE_POST_ONLY", "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY"),
        ("HOLD", {"limit_limit_gtc": {"base_size": "1", "limit_price": "100.00"}},
         "INVALID_SIDE", "PREVIEW_INVALID_SIDE"),
        ("SELL", {"limit_limit_gtc": {"base_size": "1", "limit_price": "200.00"}},
         "INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND"),  # a limit sell of SOL not held
        ("SELL", {"market_market_ioc": {"quote_size": "10"}},  # a sell is sized in base
         "UNSUPPORTED_ORDER_CONFIGURATION", None),
        ("BUY", {"market_market_fok": {"base_size": "1"}},
         "UNSUPPORTED_ORDER_CONFIGURATION", None),
        ("BUY", {"limit_limit_gtc": {"quote_size": "10", "limit_price": "100.00"}},
         "UNSUPPORTED_ORDER_CONFIGURATION", None),
        ("BUY", {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "160.00",
                 "stop_price": "145.00", "stop_direction": "STOP_DIRECTION_STOP_UP"}},
         "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE", None),  # STOP_UP must sit above
        ("BUY", {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "150.00",
                 "stop_price": "155.00", "stop_direction": "STOP_DIRECTION_STOP_UP"}},
         "PREVIEW_STOP_PRICE_ABOVE_LIMIT_PRICE", None),  # a buy's limit at or over its stop
        ("SELL", {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "140.00",
                  "stop_price": "145.00", "stop_direction": "STOP_DIRECTION_STOP_UP"}},
         "PREVIEW_STOP_PRICE_BELOW_LAST_TRADE_PRICE", None),
        ("SELL", {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "150.00",
                  "stop_price": "160.00", "stop_direction": "STOP_DIRECTION_STOP_DOWN"}},
         "PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE", None),
        ("SELL", {"stop_limit_stop_limit_gtc": {"base_size": "1", "limit_price": "141.00",
                  "stop_price": "140.00", "stop_direction": "STOP_DIRECTION_STOP_DOWN"}},
         "PREVIEW_STOP_PRICE_BELOW_LIMIT_PRICE", None),
    ],
)  # fmt: skip
def test_business_rejections_are_200_with_coinbase_error_shape(api, side, config, reason, preview):
    api.print_trade("150.00", product="SOL-USD")
    coid = f"rej-{reason}-{side}-{len(str(config))}"
    body = {"client_order_id": coid, "product_id": "SOL-USD", "side": side}
    r = api.post("/orders", json={**body, "order_configuration": config})
    assert r.status_code == 200, r.text
    rejected(r.json(), reason, preview)
    assert r.json()["order_configuration"] == config  # echoed as sent
    orders = api.ok("GET", "/orders/historical/batch", params={"product_ids": "SOL-USD"})
    assert coid not in {o["client_order_id"] for o in orders["orders"]}  # nothing created


def test_an_unknown_product_is_a_business_rejection(api: Api):
    body = {
        "client_order_id": "no-such-product",
        "product_id": "DOGE-USD",
        "side": "BUY",
        "order_configuration": {"limit_limit_gtc": {"base_size": "1", "limit_price": "1.00"}},
    }
    rejected(
        api.ok("POST", "/orders", json=body), "INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID"
    )


def test_a_repeated_client_order_id_returns_the_existing_order(api: Api):
    first = api.buy("idem-1", "1000.00")
    again = api.buy("idem-1", "1234.00", size="0.5")  # different parameters: ignored
    assert again["success"] is True
    assert again["order_id"] == first["order_id"]
    assert again["order_configuration"] == first["order_configuration"]
    sell = api.ok(
        "POST",
        "/orders",
        json={
            "client_order_id": "idem-1",
            "product_id": "BTC-USD",
            "side": "SELL",
            "order_configuration": {"limit_limit_gtc": {"base_size": "1", "limit_price": "1.00"}},
        },
    )
    assert sell["success"] is True and sell["order_id"] == first["order_id"]
    listed = api.ok("GET", "/orders/historical/batch", params={"order_ids": first["order_id"]})
    assert len(listed["orders"]) == 1
    # a refused placement creates nothing: its client_order_id can be used again
    refused = api.buy("idem-2", "1000.001")
    assert refused["success"] is False
    assert api.buy("idem-2", "1000.00")["success"] is True


def test_gtd_orders_keep_their_end_time_and_time_in_force(api: Api):
    end = "2031-01-02T03:04:05Z"
    body = api.ok(
        "POST",
        "/orders",
        json={
            "client_order_id": "gtd-1",
            "product_id": "SOL-USD",
            "side": "BUY",
            "order_configuration": {
                "limit_limit_gtd": {"base_size": "1", "limit_price": "10.00", "end_time": end}
            },
        },
    )
    order = api.order(body["order_id"])
    assert order["time_in_force"] == "GOOD_UNTIL_DATE_TIME"
    assert order["order_configuration"] == {
        "limit_limit_gtd": {
            "base_size": "1",
            "limit_price": "10.00",
            "post_only": False,
            "end_time": end,
        }
    }


def test_edit_a_limit_buy(api: Api):
    placed = api.buy("edit-1", "1000.00", size="0.01", product="BTC-USD")
    order_id = placed["order_id"]
    hold = api.balance("USD")[1]
    r = api.ok(
        "POST", "/orders/edit", json={"order_id": order_id, "price": "1100.00", "size": "0.02"}
    )
    assert r == {"success": True, "success_response": {"order_id": order_id}, "errors": []}
    order = api.order(order_id)
    assert order["order_configuration"]["limit_limit_gtc"]["limit_price"] == "1100.00"
    assert order["order_configuration"]["limit_limit_gtc"]["base_size"] == "0.02"
    (entry,) = order["edit_history"]
    assert (entry["price"], entry["size"]) == ("1100.00", "0.02")
    assert RFC3339.match(entry["replace_accept_timestamp"])
    assert api.balance("USD")[1] - hold == (D("22.00") - D("10.00")) * D("1.006")

    def edit_error(**body: str) -> dict:
        out = api.ok("POST", "/orders/edit", json={"order_id": order_id, **body})
        assert out["success"] is False
        (err,) = out["errors"]
        assert out["error_response"]["edit_order_failure_reason"] == err["edit_failure_reason"]
        return err

    assert edit_error(price="1100.00", size="0.02") == {
        "edit_failure_reason": "EDIT_REQUEST_EQUAL_TO_ORIGINAL_REQUEST",
        "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON",
    }
    assert edit_error(price="1100.001", size="0.02") == {
        "edit_failure_reason": "UNKNOWN_EDIT_ORDER_FAILURE_REASON",
        "preview_failure_reason": "PREVIEW_INVALID_PRICE_PRECISION",
    }
    assert (
        edit_error(price="1100.00", size="0.02", stop_price="1200.00")["edit_failure_reason"]
        == "FIELD_STOPPRICE_NOT_SUPPORTED"
    )
    assert edit_error(price="1100.00", size="5000")["preview_failure_reason"] in (
        "PREVIEW_INSUFFICIENT_FUND",
        "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE",
    )
    unknown = api.ok("POST", "/orders/edit", json={"order_id": "nope", "price": "1", "size": "1"})
    assert unknown["errors"][0]["edit_failure_reason"] == "ORDER_NOT_FOUND"


def test_edit_a_stop_only_while_the_capability_is_on(api: Api):
    api.print_trade("150.00", product="SOL-USD")
    api.ok(  # some SOL to sell: buy it first
        "POST",
        "/orders",
        json={
            "client_order_id": "sol-buy",
            "product_id": "SOL-USD",
            "side": "BUY",
            "order_configuration": {"limit_limit_gtc": {"base_size": "2", "limit_price": "150.00"}},
        },
    )
    # the print is as large as the order: the default fill model fills what trades
    assert len(api.print_trade("150.00", size="2", product="SOL-USD")) == 1
    stop = api.stop_sell("sol-stop", "140.00", "139.00", size="2", product="SOL-USD")
    body = {"order_id": stop["order_id"], "price": "144.00", "size": "2", "stop_price": "145.00"}
    assert api.ok("POST", "/orders/edit", json=body)["success"] is True
    config = api.order(stop["order_id"])["order_configuration"]["stop_limit_stop_limit_gtc"]
    assert (config["stop_price"], config["limit_price"]) == ("145.00", "144.00")
    admin = api.client.post("/sim/admin/capabilities", json={"edit_stop_enabled": False})
    assert admin.json() == {"edit_stop_enabled": False}
    try:
        body["stop_price"] = "146.00"
        out = api.ok("POST", "/orders/edit", json=body)
        assert out["errors"][0]["edit_failure_reason"] == "ONLY_LIMIT_ORDER_EDITS_SUPPORTED"
    finally:
        api.client.post("/sim/admin/capabilities", json={"edit_stop_enabled": True})
    fills = api.print_trade("144.50", product="SOL-USD")  # the trigger trade, over the limit
    assert [(f["price"], f["size"]) for f in fills] == [("144.50", "2")]


def test_orders_and_fills_page_newest_first_with_cursors(make_sim):
    server = make_sim()
    api = Api(server)
    try:
        api.print_trade("150.00", product="SOL-USD")
        ids = [
            api.buy(f"p{i}", f"{100 + i}.00", size="1", product="SOL-USD")["order_id"]
            for i in range(7)
        ]
        seen, cursor, pages = [], None, []
        while True:
            params = {"limit": "3", "product_ids": "SOL-USD"}
            if cursor:
                params["cursor"] = cursor
            page = api.ok("GET", "/orders/historical/batch", params=params)
            pages.append((len(page["orders"]), page["has_next"]))
            seen += [o["order_id"] for o in page["orders"]]
            if not page["has_next"]:
                assert page["cursor"] == ""
                break
            cursor = page["cursor"]
            if len(pages) == 1:  # a new order between pages shifts nothing
                api.buy("late", "99.00", size="1", product="SOL-USD")
        assert pages == [(3, True), (3, True), (1, False)]
        assert seen == ids[::-1]  # newest first, each once

        # filters
        api.ok("POST", "/orders/batch_cancel", json={"order_ids": ids[:2]})
        cancelled = api.ok("GET", "/orders/historical/batch", params={"order_status": "CANCELLED"})
        assert [o["order_id"] for o in cancelled["orders"]] == ids[1::-1]
        both = api.ok(
            "GET",
            "/orders/historical/batch",
            params=[("order_ids", ids[3]), ("order_ids", ids[5]), ("order_status", "OPEN")],
        )
        assert [o["order_id"] for o in both["orders"]] == [ids[5], ids[3]]
        assert (
            api.ok("GET", "/orders/historical/batch", params={"product_ids": "ETH-USD"})["orders"]
            == []
        )

        # fills: the five open buys at 102..106 fill on a print at 100 (the late 99 rests)
        fills = api.print_trade("100.00", product="SOL-USD")
        assert len(fills) == 5
        first = api.ok("GET", "/orders/historical/fills", params={"limit": "4"})
        assert len(first["fills"]) == 4 and first["cursor"]
        rest = api.ok(
            "GET", "/orders/historical/fills", params={"limit": "4", "cursor": first["cursor"]}
        )
        assert len(rest["fills"]) == 1 and rest["cursor"] == ""
        trade_ids = [f["trade_id"] for f in first["fills"] + rest["fills"]]
        assert trade_ids == [f["trade_id"] for f in fills][::-1]  # newest first
    finally:
        api.close()
