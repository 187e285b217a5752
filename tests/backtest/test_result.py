"""The stop history: an event run logs every acknowledged stop as integer columns (no
object per stop: a long run moves its stop hundreds of thousands of times), and the
result's `StopHistory` gives back exactly the StopLevels the orders had."""

from __future__ import annotations

from array import array
from decimal import Decimal as D

import pytest

from tradekit.backtest import as_source, event_backtest, resolve_spec
from tradekit.backtest.result import StopHistory, StopLevel, StopLog
from tradekit.backtest.runner import LeanDriver, run_arrays, run_events
from tradekit.backtest.spec import BacktestSpec
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import OrderAccepted, OrderEdited
from tradekit.core.money import ProductSpec
from tradekit.core.orders import Order, OrderSide, OrderType
from tradekit.data.generators import PricePath

SEC = 10**9
# a 5-cent grid (not a power of ten) with base and quote minimums
COARSE = ProductSpec("ABC-USD", D("0.001"), D("0.05"), D("0.1"), quote_min_size=D("10"))


def _watch_stops(monkeypatch) -> list[tuple[int, int, str, str, str]]:
    """Every stop-limit order the exchange acknowledged, read off the order itself as
    the driver handles the acknowledgement: (tick, ts, trigger, limit, size), the
    Decimals as strings so that their exponents count too."""
    seen: list[tuple[int, int, str, str, str]] = []
    process = LeanDriver.process

    def watched(self, ev):
        result = process(self, ev)
        if type(ev) is OrderAccepted or type(ev) is OrderEdited:
            order = self.decision.orders.get(ev.client_order_id)
            if order is not None and order.order_type is OrderType.STOP_LIMIT:
                levels = (order.stop_price, order.limit_price, order.size)
                seen.append((self.tick, ev.ts, *(str(v) for v in levels)))
        return result

    monkeypatch.setattr(LeanDriver, "process", watched)
    return seen


def _as_seen(stops) -> list[tuple[int, int, str, str, str]]:
    return [(s.tick, s.ts, str(s.trigger), str(s.limit), str(s.size)) for s in stops]


@pytest.mark.parametrize(
    ("product", "start", "chunk"),
    [(None, "60000", 997), (COARSE, "31.7", 1 << 18)],
    ids=["btc-streamed", "coarse-grid"],
)
def test_the_history_is_every_acknowledged_stop_exactly(monkeypatch, product, start, chunk):
    spec = resolve_spec({"trail_pct": "0.005", "print_band_pct": "off"})
    if product is not None:
        spec = BacktestSpec(product=product, trail_pct=D("0.01"), balance=D("100000"))
    q = spec.product.quote_increment
    path = PricePath(spec.product_id, D(start), 20_000, seed=4, quote_increment=q, tick_ns=7 * SEC)
    source = as_source(path)
    source.chunk_size = chunk
    watching = _watch_stops(monkeypatch)
    # the truth: every trade handled one by one, every acknowledgement read off its order
    decision = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    run_events(decision, spec.exchange(), source.stream())
    seen = list(watching)
    # the backtest: streamed in chunks, quiet trades in bulk, ratchet runs followed
    result = event_backtest(spec, source)
    assert len(seen) > 100 and len(result.trades) > 5
    assert isinstance(result.stops, StopHistory)
    assert _as_seen(result.stops) == seen  # values and exponents
    # a StopLevel per stop, made when asked for; bars counted from ticks
    level = result.stops[-1]
    assert type(level) is StopLevel and level.bar == level.tick // result.ticks_per_bar
    assert result.stops == list(result.stops) and result.stops[-3:] == list(result.stops)[-3:]


def test_prices_off_the_grid_stream_through_the_per_trade_loop_with_the_same_history(
    monkeypatch,
):
    spec = resolve_spec({"trail_pct": "0.005", "print_band_pct": "off"})
    # tenths of a cent: the trades are off the product's cent grid, the stops are not
    path = PricePath("BTC-USD", D("60000"), 5_000, seed=2, quote_increment=D("0.001"))
    seen = _watch_stops(monkeypatch)
    result = event_backtest(spec, as_source(path))
    assert len(seen) > 50
    assert _as_seen(result.stops) == seen
    assert all(s.trigger == s.trigger.quantize(D("0.01")) for s in result.stops)


def test_the_trace_keeps_its_stops_as_integer_columns_not_objects():
    spec = resolve_spec({"trail_pct": "0.005", "print_band_pct": "off"})
    q = spec.product.quote_increment
    source = as_source(PricePath("BTC-USD", D("60000"), 20_000, seed=9, tick_ns=7 * SEC))
    prices, times = source.arrays(q)
    decision = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    trace, _ = run_arrays(decision, spec.exchange(), "BTC-USD", prices, times, q)
    log = trace.stops
    assert len(log) > 1000
    for column in (log.ticks, log.times, log.triggers, log.limits, log.owner):
        assert type(column) is array and column.typecode == "q" and len(column) == len(log)
    # Decimals only for the distinct sizes: one a position at most, not one a stop
    opened = sum(1 for _, r in trace.reports if type(r).__name__ == "PositionOpened")
    assert 1 <= len(log.sizes) <= opened < len(log) / 10
    assert log.increment == q
    assert min(log.owner) == 0 and max(log.owner) == len(log.sizes) - 1


def _stop(trigger: str, limit: str, size: str = "0.5", coid: str = "stop-7") -> Order:
    return Order(
        coid, "BTC-USD", OrderSide.SELL, OrderType.STOP_LIMIT, D(size), D(limit), D(trigger)
    )


def test_a_level_off_the_grid_is_refused_naming_the_stop_and_nothing_is_logged():
    log = StopLog()
    log.add(3, 30, _stop("59000.00", "58705.00"), D("0.01"))
    with pytest.raises(
        ValueError, match=r"stop-8 at tick 12: limit 58800.005 is off the quote grid"
    ):
        log.add(12, 120, _stop("59100.00", "58800.005", coid="stop-8"), D("0.01"))
    with pytest.raises(ValueError, match=r"stop-9 at tick 13: trigger 59100.125 is off .* 0.01"):
        log.add(13, 130, _stop("59100.125", "58800.00", coid="stop-9"), D("0.01"))
    with pytest.raises(ValueError, match=r"stop-9: quote increment 0.5 in a stop history on 0.01"):
        log.add(13, 130, _stop("59100.0", "58800.0", coid="stop-9"), D("0.5"))
    assert len(log) == 1 and all(len(c) == 1 for c in (log.triggers, log.limits, log.owner))
    assert log.history(1) == [
        StopLevel(3, 3, 30, D("59000.00"), D("58705.00"), D("0.5")),
    ]


def test_sizes_are_kept_once_each_with_their_exponent():
    log = StopLog()
    for tick, size in enumerate(["0.5", "0.5", "0.50", "0.25", "0.5"]):
        log.add(tick, tick * SEC, _stop("100.05", "99.55", size), D("0.05"))
    assert [str(s) for s in log.sizes] == ["0.5", "0.50", "0.25"]
    history = log.history(4)
    assert [str(s.size) for s in history] == ["0.5", "0.5", "0.50", "0.25", "0.5"]
    assert [s.bar for s in history] == [0, 0, 0, 0, 1]
    assert {str(s.trigger) for s in history} == {"100.05"}
    other = StopLog()
    for tick, size in enumerate(["0.5", "0.5", "0.50", "0.25", "0.5"]):
        other.add(tick, tick * SEC, _stop("100.05", "99.55", size), D("0.05"))
    assert other == log
    other.add(5, 5 * SEC, _stop("100.10", "99.60"), D("0.05"))
    assert other != log and history != other.history(4)
