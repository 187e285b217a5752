"""Long sources stream: a seeded path runs chunk by chunk (memory of one chunk) with the
same trades, equity and statistics as the same path held whole."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np

from tradekit.backtest import as_source, backtest, event_backtest, resolve_spec
from tradekit.data.generators import PricePath

SEC = 10**9


def test_a_path_in_chunks_equals_the_path_whole():
    path = PricePath("BTC-USD", D("60000"), 20_000, seed=9, tick_ns=7 * SEC, volatility=2.0)
    spec = resolve_spec({"trail_pct": "0.005", "print_band_pct": "off"})
    whole = as_source(path)
    whole.arrays(spec.product.quote_increment)  # held whole: one chunk
    streamed = as_source(path)
    streamed.chunk_size = 997  # periods and positions cut across chunks
    a = event_backtest(spec, whole)
    b = event_backtest(spec, streamed)
    assert len(a.trades) > 10 and a.trades == b.trades and list(a.stops) == list(b.stops)
    assert a.final_equity == b.final_equity and a.max_drawdown == b.max_drawdown
    assert np.array_equal(a.period_times, b.period_times)
    assert np.array_equal(a.period_equity, b.period_equity)
    assert a.stats() == b.stats()
    assert np.array_equal(a.equity_values, b.equity_values) and len(a.equity_values) == 20_000
    # without the per-trade samples the chart gets one a period; the figures stay
    c = event_backtest(spec, streamed, sample=False)
    assert c.stats() == a.stats() and len(c.equity_values) == len(a.period_equity) - 1
    assert np.array_equal(c.equity_times, a.period_times[1:])
    assert np.array_equal(c.equity_values, a.period_equity[1:])
    assert c.equity_times.dtype == np.int64 and c.prices.dtype == c.equity_values.dtype == float
    assert len(c.prices) == len(c.equity_times) and c.prices[-1] == a.prices[-1]


def test_progress_counts_every_trade_from_the_start(capsys):
    path = PricePath("BTC-USD", D("60000"), 300_000, seed=1)
    source = as_source(path)
    source.chunk_size = 50_000
    backtest(source, {"trail_pct": "0.01"}, progress=True)
    err = capsys.readouterr().err
    assert "300k/300k" in err.replace(" ", "") or "300000/300000" in err
