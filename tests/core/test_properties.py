"""Invariants of the core over random price paths and random event orders."""

import random
from decimal import Decimal as D

from helpers.minimarket import MiniMarket, assert_protected
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tradekit.core import (
    Command,
    DecisionEngine,
    FixedOffsetEntry,
    MarketTrade,
    PairParams,
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


# Products whose minimums matter: BTC's are a satoshi; "SOL-USD" here refuses anything
# under 0.1 or under 10 USD, so partial fills and exits leave remainders the exchange
# would refuse.
SOL = ProductSpec("BTC-USD", D("0.001"), D("0.01"), D("0.1"), quote_min_size=D("10"))
products = st.sampled_from([(BTC, D("0.25")), (SOL, D("0.15")), (SOL, D("0.3")), (SOL, D("0.1"))])
# paths with gaps and fast drops: most steps small, some far
gappy = st.lists(
    st.one_of(st.integers(-300, 300), st.integers(-3000, -800), st.integers(800, 2000)),
    min_size=5,
    max_size=120,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(10_000, 100_000),
    gappy,
    trails,
    ratchets,
    st.integers(0, 2**32),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    products,
    st.booleans(),
    st.sampled_from([0.0, 0.2]),
)
def test_engine_invariants_under_random_paths_and_event_orders(
    start, moves, trail, step, seed, chaos, partial, pullback, edit, product, gaps, refuse
):
    """After EVERY event (MiniMarket.check): at most one live stop, and protection
    liveness (an open size at or above the minimum has a stop, an exit, or a reported
    reason: dust, or a bounded back-off). Over the run: the stop only rises as the
    exchange acknowledges it, ids are never reused, no float, sold <= bought."""
    spec, size = product
    rule = (
        PullbackEntry(D("0.01"), 20 * SEC, D("0.001")) if pullback else FixedOffsetEntry(D("0.002"))
    )
    params = PairParams(spec, TrailParams(trail, D("0.005"), step), 5 * SEC, size=size)
    engine = DecisionEngine(params, rule, "p")
    engine.can_edit_stops = edit
    rng = random.Random(seed) if (chaos or refuse) else None
    market = MiniMarket(engine, rng, partial=partial, gap_fills=gaps, refuse=refuse)
    if not chaos and rng is not None:
        market._shake = lambda batch, ts: batch  # refusals only, delivered in order
    triggers: list[D] = []
    checked = 0
    prices = path(start, moves)
    # time keeps running after the path (bounded): back-offs expire, exits re-price
    prices += [prices[-1]] * 70
    for i, price in enumerate(prices):
        ts = (i + 1) * SEC
        pending = market.trade(price, ts)
        pending.append(MarketTrade("BTC-USD", price, D("1"), ts, str(i)))
        market.pump(pending, ts)
        for r in engine.take_reports():
            event(type(r).__name__)  # shows which protection paths the examples reach
            if isinstance(r, StopMoved):
                if r.old_trigger is None:
                    triggers = []
                triggers.append(r.trigger)
                assert r.limit <= r.trigger
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
        assert isinstance(cmd, Command)
        _decimals_only(cmd)
    # total sold <= total bought, per the exchange
    bought = sum(
        (o["filled"] for o in market.orders.values() if not (o["stop"] or o["sell"])), D(0)
    )
    sold = sum((o["filled"] for o in market.orders.values() if o["stop"] or o["sell"]), D(0))
    assert sold <= bought
    # at the end, after a long flat tail: whatever is held is protected, reported dust,
    # or waits out a reported, bounded back-off (refusals keep coming at 20 %)
    assert_protected(engine)
    assert checked
