"""`backtest`'s bar figures: 500,000 one-minute bars beside vectorbt, the statistics
against vectorbt's, a DataFrame read, and the candle fill model against the ticks.

- The bars: a seeded NumPy walk (BTC-USD from 60,000, 80 % a year, a trade every 15 s)
  cut into 500,000 one-minute bars (`cut_bars`), as a float DataFrame (a datetime
  index, open/high/low/close/volume), the shape users have.
- `dataframe_source_s`: that DataFrame to a source with its integer price arrays
  (`as_source(frame)` + `arrays()`: all a backtest needs), median of 3.
- The strategy on both tools: buy whenever flat, a 2 % trailing stop (tradekit: a
  stop-limit 0.5 % under the trigger, fees 0.4/0.6 %; vectorbt: `Portfolio.from_signals`
  with an entry signal on every bar, `sl_stop=0.02, sl_trail=True`, fees 0.6 %, on the
  bars' open/high/low/close). vectorbt is run once before timing (Numba compiles on
  first use; tradekit's kernel is compiled and cached beforehand too; the event engine
  has none).
  `speedup_vs_vectorbt_fast`: vectorbt's time over tradekit's fast path's (a full
  result: trades, stops, equity curve), `speedup_vs_vectorbt_events`: over the event
  engine's; medians of 3 (events: 1).
- `stats_rel_diff_vs_vectorbt`: tradekit's Sharpe, Sortino and CAGR against vectorbt's
  `returns` accessor on the same equity curve (the fast path's equity at each bar's
  close, 365-day year, one-minute frequency): the largest relative difference.
- `candle_exit_bias_bps_1m` / `_1h`: a seeded `PricePath` of 30 days of one-second
  ticks, and the one-minute and hourly bars cut from it. An entry every 4 hours
  (`entry="once"` at that time, at the market): each is run on the ticks and on the
  bars, same entry price; the figure is the mean of (exit on bars - exit on ticks) /
  exit on ticks, in basis points, over the entries that exited on both.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from typing import Any, TextIO

from tradekit.bench.figures import Figure

N_BARS = 500_000
MINUTE = 60 * 10**9
HOUR = 60 * MINUTE


def bench_bars(n_bars: int = N_BARS) -> Any:
    """The seeded one-minute bars as a float DataFrame (module docstring)."""
    import numpy as np
    import pandas as pd

    from tradekit.data.frames import cut_bars

    rng = np.random.default_rng(1)
    n = n_bars * 4
    sigma = 0.8 / np.sqrt(365 * 86400 / 15)
    prices = np.rint(6_000_000 * np.exp(np.cumsum(rng.standard_normal(n) * sigma)))
    times = 1_704_067_200 * 10**9 + np.arange(n, dtype=np.int64) * 15 * 10**9
    bars = cut_bars(prices.astype(np.int64), times, Decimal("0.01"), MINUTE)
    return pd.DataFrame(
        {name: getattr(bars, name) for name in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(bars.starts, unit="ns"),
    )


def _timed(work: Any, repeat: int, label: str, progress: TextIO | None) -> float:
    walls = []
    for i in range(repeat):
        t0 = time.perf_counter()
        work()
        walls.append(time.perf_counter() - t0)
        if progress is not None:
            progress.write(f"  {label}: run {i + 1}/{repeat}: {walls[-1]:.3f} s\n")
    return statistics.median(walls)


def run_bars(spec: Any, repeat: int, progress: TextIO | None) -> list[Figure]:
    import numpy as np
    import vectorbt as vbt

    from tradekit.backtest.api import event_backtest, fast_backtest
    from tradekit.backtest.source import as_source

    if progress is not None:
        progress.write(f"backtest: {N_BARS:,} one-minute bars (seeded) as a DataFrame\n")
    frame = bench_bars()
    q = spec.product.quote_increment

    def read() -> Any:
        source = as_source(frame, "BTC-USD")
        source.arrays(q)
        return source

    read_s = _timed(read, 3, "DataFrame -> source", progress)
    source = read()
    fast_backtest(spec, source)  # compiles (or loads) the kernel
    out: dict[str, Any] = {}

    def fast() -> None:
        out["fast"] = fast_backtest(spec, source)

    def events() -> None:
        out["events"] = event_backtest(spec, source, progress=False)

    entries = np.ones(len(frame), dtype=bool)

    def vectorbt() -> None:
        pf = vbt.Portfolio.from_signals(
            frame["close"],
            entries,
            open=frame["open"],
            high=frame["high"],
            low=frame["low"],
            sl_stop=0.02,
            sl_trail=True,
            fees=0.006,
            freq="1min",
        )
        out["vbt_trades"] = int(pf.trades.count())

    vectorbt()  # Numba compiles on first use
    fast_s = _timed(fast, repeat, "tradekit fast path", progress)
    vbt_s = _timed(vectorbt, repeat, "vectorbt", progress)
    events_s = _timed(events, 1, "tradekit event engine", progress)
    if out["fast"].trades != out["events"].trades:
        raise RuntimeError("the fast path disagrees with the event engine on the bars")
    diff = _stats_vs_vectorbt(out["fast"], vbt)
    return [
        Figure("dataframe_source_s", round(read_s, 4), "s"),
        Figure("bars_fast_path_s", round(fast_s, 4), "s"),
        Figure("bars_event_engine_s", round(events_s, 3), "s"),
        Figure("bars_vectorbt_s", round(vbt_s, 4), "s"),
        Figure("speedup_vs_vectorbt_fast", round(vbt_s / fast_s, 2), "x"),
        Figure("speedup_vs_vectorbt_events", round(vbt_s / events_s, 3), "x"),
        Figure("trades_bars_tradekit", len(out["fast"].trades), "trades"),
        Figure("trades_bars_vectorbt", out["vbt_trades"], "trades"),
        Figure("stats_rel_diff_vs_vectorbt", diff, "fraction"),
    ]


def _stats_vs_vectorbt(result: Any, vbt: Any) -> float:
    """The largest relative difference of Sharpe, Sortino and CAGR between tradekit's
    statistics and vectorbt's returns accessor on the same equity curve."""
    import pandas as pd

    eq = result.period_equity
    returns = pd.Series(
        eq[1:] / eq[:-1] - 1.0, index=pd.to_datetime(result.period_times[1:], unit="ns")
    )
    acc = returns.vbt.returns(freq="1min", year_freq="365 days")
    ours = result.stats()
    theirs = {
        "sharpe": float(acc.sharpe_ratio()),
        "sortino": float(acc.sortino_ratio()),
        "cagr": float(acc.annualized()),
    }
    return float(max(abs(ours[k] - v) / abs(v) for k, v in theirs.items()))


def run_bias(progress: TextIO | None, days: int = 30) -> list[Figure]:
    import numpy as np

    from tradekit.backtest.api import backtest
    from tradekit.backtest.source import TickSource, as_source
    from tradekit.data.frames import cut_bars
    from tradekit.data.generators import PricePath

    n = days * 86400
    path = PricePath("BTC-USD", Decimal("60000"), n, seed=2, jump_intensity=0.0)
    if progress is not None:
        progress.write(f"backtest: candle bias, {n:,} one-second ticks (seed 2)\n")
    q = path.quote_increment
    ticks = TickSource("BTC-USD", path.ticks, n, 1, "path", path=path)
    prices, times = ticks.arrays(q)
    sources = {
        "1m": as_source(cut_bars(prices, times, q, MINUTE), "BTC-USD"),
        "1h": as_source(cut_bars(prices, times, q, HOUR), "BTC-USD"),
    }
    params = {
        "trail_pct": "0.02",
        "quote_budget": "1000",
        "print_band_pct": "off",
        "max_entry_wait": "1h",
    }
    figures = []
    starts = range(int(times[0]), int(times[-1]) - 2 * 86400 * 10**9, 4 * HOUR)
    tick_exits: dict[int, Decimal] = {}
    for at in starts:
        entry = {"rule": "once", "offset_pct": "0", "at_ts": at}
        t = backtest(ticks, {**params, "entry": entry}, engine="auto")
        if t.trades and t.trades[0].exit_price is not None:
            tick_exits[at] = t.trades[0].exit_price
    for label, source in sources.items():
        bias = []
        for at, tick_exit in tick_exits.items():
            entry = {"rule": "once", "offset_pct": "0", "at_ts": at}
            b = backtest(source, {**params, "entry": entry}, engine="auto")
            if b.trades and b.trades[0].exit_price is not None:
                bias.append(float((b.trades[0].exit_price - tick_exit) / tick_exit) * 1e4)
        if progress is not None:
            progress.write(f"  {label}: {len(bias)} exits compared\n")
        figures.append(
            Figure(f"candle_exit_bias_bps_{label}", round(float(np.mean(bias)), 3), "bps")
        )
        figures.append(Figure(f"candle_exits_compared_{label}", len(bias), "exits"))
    return figures
