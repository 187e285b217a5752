"""The feed's message handling, without a socket: sequence numbers and user-channel
cumulative quantities (the network behaviour is tested against the simulator)."""

import json
from decimal import Decimal as D

from tradekit.core.events import MarketTrade, OrderStatusReport
from tradekit.core.orders import OrderStatus
from tradekit.exchange.coinbase._async.feed import AsyncCoinbaseFeed

TS = "2026-11-25T09:00:00.000000001Z"


def msg(seq, channel="user", events=None):
    return json.dumps(
        {
            "channel": channel,
            "client_id": "",
            "timestamp": TS,
            "sequence_num": seq,
            "events": events or [],
        }
    )


def order(cum, status="OPEN", coid="c1", avg="100"):
    return {
        "type": "update",
        "orders": [
            {
                "order_id": "o1",
                "client_order_id": coid,
                "cumulative_quantity": cum,
                "leaves_quantity": "0",
                "avg_price": avg,
                "total_fees": "0.1",
                "status": status,
                "product_id": "BTC-USD",
                "order_side": "BUY",
                "order_type": "Limit",
                "trigger_status": "INVALID_ORDER_TYPE",
            }
        ],
    }


def feed():
    return AsyncCoinbaseFeed("ws://127.0.0.1:1/ws", ["BTC-USD"])


def test_user_updates_are_emitted_once_per_change_with_cumulative_figures():
    f = feed()
    [r] = f._receive(msg(0, events=[order("0")]))
    assert isinstance(r, OrderStatusReport) and r.filled_size == 0
    assert f._receive(msg(1, events=[order("0")])) == []  # nothing changed
    [r] = f._receive(msg(2, events=[order("0.5")]))
    assert r.filled_size == D("0.5") and r.filled_value == D("50.0")
    assert f._receive(msg(3, events=[order("0.4")])) == []  # older than known: ignored
    [r] = f._receive(msg(4, events=[order("1", "FILLED")]))
    assert r.status is OrderStatus.FILLED and r.filled_size == 1


def test_duplicates_are_dropped_and_gaps_ask_for_a_resync():
    f = feed()
    f._receive(msg(0, events=[order("0")]))
    assert f._receive(msg(0, events=[order("0.5")])) == []  # same sequence_num: dropped
    assert f.stats.duplicates == 1
    [r] = f._receive(msg(2, events=[order("0.5")]))  # 1 was lost
    assert r.filled_size == D("0.5")
    assert f.stats.gaps == 1 and f._resync_needed


def test_market_trades_become_core_events():
    f = feed()
    trades = [
        {
            "type": "update",
            "trades": [
                {
                    "trade_id": "7",
                    "product_id": "BTC-USD",
                    "price": "60000.01",
                    "size": "0.002",
                    "side": "BUY",
                    "time": TS,
                }
            ],
        }
    ]
    [t] = f._receive(msg(0, "market_trades", trades))
    assert t == MarketTrade("BTC-USD", D("60000.01"), D("0.002"), 1795597200_000000001, "7")


def test_bad_messages_are_counted_named_and_change_nothing():
    f = feed()
    f._receive(msg(0, events=[order("0.5")]))
    assert f._receive("{not json") == []
    assert f._receive(msg(1, events=[order("0.7", status="SHRUGGED")])) == []
    assert "status" in f.stats.last_error and "SHRUGGED" in f.stats.last_error
    assert f._receive(json.dumps({"channel": "user", "events": []})) == []
    assert "sequence_num" in f.stats.last_error
    assert f.stats.bad_messages == 3 and f._resync_needed
    # the tracked state is what it was: the next real update still counts from 0.5
    [r] = f._receive(msg(2, events=[order("0.7")]))
    assert r.filled_size == D("0.7")


def test_trade_snapshots_and_trades_from_the_past_never_reach_the_engine():
    f = feed()

    def trades(kind, *items):
        return [
            {
                "type": kind,
                "trades": [
                    {
                        "trade_id": tid,
                        "product_id": "BTC-USD",
                        "price": "1.00",
                        "size": "1",
                        "side": "BUY",
                        "time": t,
                    }
                    for tid, t in items
                ],
            }
        ]

    t1, t2 = "2026-11-25T09:00:01Z", "2026-11-25T09:00:02Z"
    assert f._receive(msg(0, "market_trades", trades("snapshot", ("1", t1)))) == []
    [a] = f._receive(msg(1, "market_trades", trades("update", ("2", t2))))
    assert a.trade_id == "2"
    # after a reconnect the server repeats what came before: dropped
    assert f._receive(msg(2, "market_trades", trades("update", ("1", t1)))) == []
    assert f.stats.stale_trades == 1


def _trades(*items, product="BTC-USD", kind="update"):
    return [
        {
            "type": kind,
            "trades": [
                {
                    "trade_id": tid,
                    "product_id": product,
                    "price": price,
                    "size": "0.1",
                    "side": "BUY",
                    "time": t,
                }
                for tid, price, t in items
            ],
        }
    ]


def test_a_newest_first_batch_reaches_the_engine_whole_and_in_time_order():
    """Coinbase lists a market_trades batch newest first: every trade of it is passed
    on, oldest first, so the high inside the batch is seen (the ratchet's input)."""
    f = feed()
    batch = _trades(
        ("103", "101.00", "2026-11-25T09:00:03Z"),
        ("102", "105.00", "2026-11-25T09:00:02Z"),  # the high, in the middle
        ("101", "100.00", "2026-11-25T09:00:01Z"),
    )
    got = f._receive(msg(0, "market_trades", batch))
    assert [(t.trade_id, t.price) for t in got] == [
        ("101", D("100.00")),
        ("102", D("105.00")),
        ("103", D("101.00")),
    ]
    assert f.stats.stale_trades == 0
    # same time, several trades: ordered by their (counting) trade ids
    same = _trades(
        ("106", "1.03", "2026-11-25T09:00:04Z"),
        ("105", "1.02", "2026-11-25T09:00:04Z"),
        ("104", "1.01", "2026-11-25T09:00:04Z"),
    )
    assert [t.trade_id for t in f._receive(msg(1, "market_trades", same))] == ["104", "105", "106"]
    # the same batch again (a replay): nothing new
    assert f._receive(msg(2, "market_trades", same)) == []
    assert f.stats.stale_trades == 3


def test_usdc_pairs_get_the_market_data_labelled_usd():
    """Coinbase labels a -USDC product's market data -USD: the feed gives it back to
    the configured -USDC pair (and to the -USD pair too when both are configured)."""
    only = AsyncCoinbaseFeed("ws://127.0.0.1:1/ws", ["BTC-USDC", "ETH-USD"])
    batch = _trades(("9", "60000", "2026-11-25T09:00:01Z"), product="BTC-USD")
    [t] = only._receive(msg(0, "market_trades", batch))
    assert t.product_id == "BTC-USDC" and t.price == D("60000") and t.trade_id == "9"
    both = AsyncCoinbaseFeed("ws://127.0.0.1:1/ws", ["BTC-USD", "BTC-USDC"])
    got = both._receive(msg(0, "market_trades", batch))
    assert sorted(t.product_id for t in got) == ["BTC-USD", "BTC-USDC"]
    # a pair that has its own book keeps its label
    # subscribed by the -USD id on the market channels, by the configured id on `user`
    assert only._subscribed_ids("market_trades") == ["BTC-USD", "ETH-USD"]
    assert only._subscribed_ids("user") == ["BTC-USDC", "ETH-USD"]
    assert both._subscribed_ids("market_trades") == ["BTC-USD"]
    own = AsyncCoinbaseFeed("ws://127.0.0.1:1/ws", ["USDT-USDC"])
    usdt = _trades(("1", "1.0001", "2026-11-25T09:00:01Z"), product="USDT-USDC")
    assert [t.product_id for t in own._receive(msg(0, "market_trades", usdt))] == ["USDT-USDC"]


def test_orders_placed_by_hand_without_a_client_order_id_are_tracked_apart():
    f = feed()
    first = order("0", coid="")
    second = order("0", coid="")
    second["orders"][0]["order_id"] = "o2"
    got = f._receive(msg(0, events=[first, second]))
    assert [r.order_id for r in got] == ["o1", "o2"]
    edit = order("0", coid="", status="EDIT_QUEUED")
    assert f._receive(msg(1, events=[edit])) == []  # still working: nothing changed


def test_trades_at_one_time_without_counting_ids_keep_the_batch_order_reversed():
    f = feed()
    batch = _trades(
        ("c", "1.03", "2026-11-25T09:00:04Z"),
        ("a", "1.02", "2026-11-25T09:00:04Z"),
        ("b", "1.01", "2026-11-25T09:00:04Z"),
    )
    assert [t.trade_id for t in f._receive(msg(0, "market_trades", batch))] == ["b", "a", "c"]
