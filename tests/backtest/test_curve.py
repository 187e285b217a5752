"""The event engine's equity curve, chunk by chunk: the same samples and figures
whether the run's length is known up front (every trade written into arrays of that
length), unknown (the chunks joined at the end) or longer than said."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from tradekit.backtest.curve import Curve
from tradekit.core.orders import OrderSide
from tradekit.exchange.types import Fill

MIN = 60 * 10**9


def _run(total: int | None, cuts: list[int], n: int = 1_000) -> dict:
    rng = np.random.default_rng(5)
    prices = 100 + np.cumsum(rng.normal(0, 0.1, n))
    times = np.arange(n, dtype=np.int64) * 7 * 10**9
    fills = [  # bought at trade 100, sold at trade 800
        (k, Fill(f"t{k}", "o", "c", "X-USD", side, D("100"), D("5"), D("0.5"), int(times[k])))
        for k, side in ((100, OrderSide.BUY), (800, OrderSide.SELL))
    ]
    curve = Curve(D("1000"), MIN, False, True, total)
    for a, b in zip([0, *cuts], [*cuts, n], strict=True):
        curve.add(a, prices[a:b], times[a:b], [f for f in fills if f[0] < b])
    out = curve.finish(int(times[0]), D("1000"))
    assert np.array_equal(out["prices"], prices) and np.array_equal(out["equity_times"], times)
    return out


@pytest.mark.parametrize(
    ("total", "cuts"),
    [(1_000, [300, 650]), (1_000, []), (None, [300, 650]), (700, [300, 650]), (2_000, [10])],
    ids=["known", "one-chunk", "unknown", "longer-than-said", "shorter-than-said"],
)
def test_every_trade_is_kept_whatever_the_run_said_its_length_was(total, cuts):
    out = _run(total, cuts)
    reference = _run(None, [])
    for key in ("equity_values", "period_times", "period_equity"):
        assert np.array_equal(out[key], reference[key]), key
    assert out["drawdown"] == reference["drawdown"] > 0
    assert out["equity_times"].dtype == np.int64 and out["equity_values"].dtype == np.float64
