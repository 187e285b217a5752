"""Random sessions on the paper exchange: the ledger always reconciles, replay is exact."""

from __future__ import annotations

import tempfile
from decimal import Decimal as D
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.core.events import MarketTrade
from tradekit.core.orders import OrderSide, OrderStatus
from tradekit.exchange.paper import PaperExchange, StopDirection

INITIAL = {"USD": D("5000"), "BTC": D("3")}
cents = st.integers(min_value=8000, max_value=12000).map(lambda c: D(c).scaleb(-2))
sizes = st.integers(min_value=1, max_value=150).map(lambda n: D(n).scaleb(-2))

op = st.one_of(
    st.tuples(st.just("trade"), cents, st.integers(min_value=0, max_value=200)),
    st.tuples(st.just("buy"), cents, sizes),
    st.tuples(st.just("stop"), cents, sizes, st.integers(min_value=0, max_value=300)),
    st.tuples(st.just("sell"), cents, sizes),
    st.tuples(st.just("market"), st.booleans(), sizes),
    st.tuples(st.just("ioc"), st.booleans(), cents, sizes, st.booleans()),
    st.tuples(st.just("stop2"), st.booleans(), st.booleans(), cents, sizes, st.integers(0, 300)),
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=30)),
)


def run(ex: PaperExchange, ops: list[tuple]) -> None:
    for i, (kind, *args) in enumerate(ops):
        if kind == "trade":
            price, size = args
            ex.advance(MarketTrade("BTC-USD", price, D(size).scaleb(-2), i))
        elif kind == "buy":
            ex.place_limit_buy(f"c{i}", "BTC-USD", args[1], args[0])
        elif kind == "sell":
            ex.place_limit_sell(f"c{i}", "BTC-USD", args[1], args[0])
        elif kind == "market":
            buy, size = args
            side = OrderSide.BUY if buy else OrderSide.SELL
            if buy and size > 1:  # a buy by quote: size x 10 USD
                ex.place_market_ioc(f"c{i}", "BTC-USD", side, quote_size=size * 10)
            else:
                ex.place_market_ioc(f"c{i}", "BTC-USD", side, base_size=size)
        elif kind == "ioc":
            buy, limit, size, fok = args
            side = OrderSide.BUY if buy else OrderSide.SELL
            place = ex.place_limit_fok if fok else ex.place_limit_ioc
            place(f"c{i}", "BTC-USD", side, size, limit)
        elif kind == "stop2":  # buy stops and STOP_UP stops
            buy, up, stop, size, gap = args
            side = OrderSide.BUY if buy else OrderSide.SELL
            offset = D(gap).scaleb(-2)
            limit = stop + offset if buy else max(stop - offset, D("0.01"))
            direction = StopDirection.STOP_UP if up else StopDirection.STOP_DOWN
            ex.place_stop_limit(
                f"c{i}", "BTC-USD", size, stop, limit, side=side, stop_direction=direction
            )
        elif kind == "stop":
            stop, size, gap = args
            limit = max(stop - D(gap).scaleb(-2), D("0.01"))
            ex.place_stop_limit(f"c{i}", "BTC-USD", size, stop, limit)
        else:
            orders = ex.list_orders()
            if orders:
                ex.cancel_order(orders[args[0] % len(orders)].order_id)
        check_ledger(ex)


def check_ledger(ex: PaperExchange) -> None:
    balances = ex.balances()
    flows = {"USD": D(0), "BTC": D(0)}
    for f in ex.list_fills():
        sign = 1 if f.side is OrderSide.BUY else -1
        limit = ex.get_order(f.order_id).limit_price
        assert sign * f.price <= sign * limit  # never a buy over, a sell under, its limit
        flows["BTC"] += sign * f.size
        flows["USD"] -= sign * f.price * f.size + f.commission
    holds = {"USD": D(0), "BTC": D(0)}
    for o in ex.list_orders():
        hold = ex.order_hold(o.order_id)
        if o.status is not OrderStatus.OPEN:
            assert hold == 0
        holds["USD" if o.side is OrderSide.BUY else "BTC"] += hold
        assert o.filled_size <= o.size
        assert (o.status is OrderStatus.FILLED) == (o.filled_size == o.size)
    for currency in ("USD", "BTC"):
        b = balances[currency]
        assert b.available >= 0, currency
        assert b.hold == holds[currency], currency
        assert b.total == INITIAL[currency] + flows[currency], currency


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(op, max_size=40),
    model=st.sampled_from(["full", "trade_size"]),
    sell_fills=st.sampled_from(["trade", "limit"]),
)
def test_random_sessions_reconcile_and_replay_exactly(ops, model, sell_fills):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "paper.jsonl"
        live = PaperExchange(
            balances=INITIAL, fill_model=model, sell_fills=sell_fills, state_path=path
        )
        run(live, ops)
        live.close()
        restored = PaperExchange.restore(path)
        state, expected = restored.state(), live.state()
        assert state.pop("market_seq") <= expected.pop("market_seq")
        state.pop("last")
        expected.pop("last")
        assert state == expected
        restored.close()
