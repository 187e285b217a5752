"""Invariants of the core over random price paths and random event orders."""

import random
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from minimarket import MiniMarket

from tradekit.core import (
    CancelOrder,
    DecisionEngine,
    EditStopOrder,
    FixedOffsetEntry,
    MarketTrade,
    PairParams,
    PlaceLimitBuy,
    PlaceStopLimitSell,
    PositionState,
    ProductSpec,
    PullbackEntry,
    StopMoved,
    TrailParams,
)

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))
SEC = 1_000_000_000

steps = st.lists(st.integers(min_value=-300, max_value=300), min_size=5, max_size=120)
trails = st.sampled_from([D("0.01"), D("0.02"), D("0.05")])
ratchets = st.sampled_from([D("0"), D("0.001"), D("0.01")])


def path(start_cents: int, moves: list[int]) -> list[D]:
    cents, out = start_cents, []
    for m in moves:
        cents = max(100, cents + m)
        out.append(D(cents) / 100)
    return out


@given(st.integers(10_000, 100_000), steps, trails, ratchets)
def test_ratchet_invariants(start, moves, trail, step):
    pos = PositionState(BTC, TrailParams(trail, D("0.005"), step))
    prices = path(start, moves)
    pos.add_buy(D("1"), prices[0], D("0"))
    last = pos.stop_trigger
    for p in prices:
        pos.ratchet(p)
        assert pos.stop_trigger >= last  # never decreases
        assert pos.stop_trigger < pos.highest
        assert pos.stop_limit <= pos.stop_trigger
        assert pos.stop_trigger % BTC.quote_increment == 0
        assert pos.stop_limit % BTC.quote_increment == 0
        last = pos.stop_trigger


def _decimals_only(obj) -> None:
    for name in obj.__slots__:
        value = getattr(obj, name)
        assert not isinstance(value, float), (obj, name)
        if isinstance(value, PlaceStopLimitSell):
            _decimals_only(value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(10_000, 100_000),
    steps,
    trails,
    ratchets,
    st.integers(0, 2**32),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_engine_invariants_under_random_paths_and_event_orders(
    start, moves, trail, step, seed, chaos, partial, pullback, edit
):
    rule = (
        PullbackEntry(D("0.01"), 20 * SEC, D("0.001")) if pullback else FixedOffsetEntry(D("0.002"))
    )
    params = PairParams(BTC, TrailParams(trail, D("0.005"), step), 5 * SEC, size=D("0.25"))
    engine = DecisionEngine(params, rule, "p")
    engine.can_edit_stops = edit
    market = MiniMarket(engine, random.Random(seed) if chaos else None, partial=partial)
    triggers: list[D] = []
    checked = 0
    for i, price in enumerate(path(start, moves)):
        ts = (i + 1) * SEC
        pending = market.trade(price, ts)
        pending.append(MarketTrade("BTC-USD", price, D("1"), ts, str(i)))
        market.pump(pending, ts)
        for r in engine.take_reports():
            if isinstance(r, StopMoved):
                if r.old_trigger is None:
                    triggers = []
                triggers.append(r.trigger)
                assert r.trigger < r.highest and r.limit <= r.trigger
        assert triggers == sorted(triggers)  # within a position the stop only rises
        pos = engine.position
        if pos is not None:
            assert pos.sold_size <= pos.filled_size
        checked += 1
    # never two live stops, at the engine and at the exchange
    assert market.max_live_stops <= 1
    # every order asked for has a client_order_id never used before
    assert len(market.seen_coids) == len(set(market.seen_coids))
    # no float anywhere in what the core asked for
    for cmd in market.commands:
        assert isinstance(cmd, PlaceLimitBuy | PlaceStopLimitSell | CancelOrder | EditStopOrder)
        _decimals_only(cmd)
    # total sold <= total bought, per the exchange
    bought = sum((o["filled"] for o in market.orders.values() if not o["stop"]), D(0))
    sold = sum((o["filled"] for o in market.orders.values() if o["stop"]), D(0))
    assert sold <= bought
    assert checked
