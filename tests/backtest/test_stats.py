"""The statistics against values computed by hand (tradekit.backtest.result's
docstring has the definitions).

The run is tests/backtest/test_backtest.py's three one-minute bars: buy 10 at 100.00
(fee 6.00), exit at 104.50 (fee 6.27) in bar 2. Equity at each bar's close (its last
waypoint, 45 s into the bar): 10000 - 1006 + 10 x 100 = 9994, then 8994 + 10 x 108 =
10074, then flat at 10032.73; the peak while holding was 10094 (the 110 print).
"""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from tradekit.backtest import backtest
from tradekit.backtest.result import BacktestResult, Trade
from tradekit.backtest.spec import default_product
from tradekit.data.candles import Candle

SEC = 10**9
BARS = [("100", "101", "99", "100"), ("100", "110", "96", "108"), ("108", "108", "104", "105")]
PARAMS = {
    "trail_pct": "0.05",
    "stop_limit_buffer_pct": "0.01",
    "quote_budget": "1000",
    "balance": "10000",
    "entry": {"rule": "once", "offset_pct": "0"},
    "print_band_pct": "off",
}
YEAR_MINUTES = 365 * 24 * 60


def candles() -> list[Candle]:
    return [Candle(i * 60 * SEC, *(D(x) for x in b), D(4)) for i, b in enumerate(BARS)]


@pytest.mark.parametrize("engine", ["events", "fast"])
def test_statistics_by_hand(engine):
    result = backtest(candles(), PARAMS, engine=engine)
    s = result.stats()
    r = [9994 / 10000 - 1, 10074 / 9994 - 1, 10032.73 / 10074 - 1]
    mean = sum(r) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    assert s["period_s"] == 60 and result.periods_per_year == YEAR_MINUTES
    assert s["sharpe"] == pytest.approx(mean / sd * math.sqrt(YEAR_MINUTES), rel=1e-9)
    down = math.sqrt((r[0] ** 2 + r[2] ** 2) / 3)
    assert s["sortino"] == pytest.approx(mean / down * math.sqrt(YEAR_MINUTES), rel=1e-9)
    cagr = (10032.73 / 10000) ** (YEAR_MINUTES / 3) - 1
    assert s["cagr"] == pytest.approx(cagr, rel=1e-9)
    dd = (10094 - 10032.73) / 10094
    assert s["max_drawdown"] == pytest.approx(dd, rel=1e-12)
    assert s["calmar"] == pytest.approx(cagr / dd, rel=1e-9)
    # under water from the start (9994 at 45 s) until 10074 at 105 s; then from 105 s
    # to the end (165 s): 60 s
    assert s["max_drawdown_duration_s"] == 105
    assert s["buy_and_hold_return"] == D("0.05")  # 105 / 100 - 1, exact
    assert s["profit_factor"] is None  # no losing trade
    assert s["expectancy"] == D("32.73")
    assert s["best_trade"] == s["worst_trade"] == s["avg_trade"] == pytest.approx(0.03273)
    assert s["avg_trade_duration_s"] == s["max_trade_duration_s"] == 150
    # a risk-free rate: 5 % a year, compounded per minute
    rf = 1.05 ** (1 / YEAR_MINUTES) - 1
    with_rf = result.stats(risk_free=0.05)
    assert with_rf["sharpe"] == pytest.approx((mean - rf) / sd * math.sqrt(YEAR_MINUTES), rel=1e-9)
    assert with_rf["risk_free"] == 0.05 and with_rf["sharpe"] < s["sharpe"]


def _trade(pnl: str, entry: str = "100", size: str = "1", held_s: int = 60) -> Trade:
    return Trade(0, 0, 0, D(entry), D(size), 1, 1, held_s * SEC, D(entry), D(0), D(pnl))


def test_trade_statistics_with_wins_and_losses():
    trades = [_trade("30", held_s=60), _trade("-10", held_s=120), _trade("-20", "200", "1", 30)]
    result = BacktestResult(
        default_product("BTC-USD"), {}, "events", trades, [], D(1000), D(1000), D(0), 0,
        10, 1, 0, 10 * SEC, D(100),
    )  # fmt: skip
    s = result.trade_stats()
    assert s["profit_factor"] == 1.0  # 30 won / (10 + 20) lost
    assert s["expectancy"] == D("0")
    assert s["best_trade"] == pytest.approx(0.30)  # 30 on a cost of 100
    assert s["worst_trade"] == pytest.approx(-0.10)  # -10 on 100 and -20 on 200: -0.10 both
    assert s["avg_trade"] == pytest.approx((0.30 - 0.10 - 0.10) / 3)
    assert s["avg_trade_duration_s"] == 70 and s["max_trade_duration_s"] == 120
    assert result.stats()["sharpe"] is None  # no equity curve, no ratio


def test_summary_names_the_entry_the_guards_and_what_they_held_back():
    # a 500 balance cannot pay for a 1000 budget: every entry is refused for funds
    result = backtest(candles(), {"trail_pct": "0.05", "balance": "500"})
    text = result.summary()
    assert "entry fixed_offset (bid 0.10% under the last trade, again after every exit)" in text
    assert "guards: print_band_pct 0.05, max_order_value 25000" in text
    held = next(line for line in text.splitlines() if "held back" in line)
    assert "entries refused by the exchange (lack of funds)" in held
    assert sum(result.refused.values()) >= 1
    # counted, not kept as two reports each (an empty account is refused every trade)
    from tradekit.core.reports import EntryEnded, EntryPlaced

    assert not any(type(r) in (EntryPlaced, EntryEnded) for r in result.reports)
