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
