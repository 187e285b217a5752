"""Portfolio backtests: several pairs on one paper account, under the live portfolio's
risk limits.

    result = tradekit.backtest("my.toml", data={"BTC-USD": btc, "ETH-USD": eth})
    result.stats()          # the portfolio's statistics (one equity curve)
    result.pairs["BTC-USD"]  # each pair's own BacktestResult
    result.pair_stats()     # a table: one row a pair

The pieces are the live portfolio's: each pair's `DecisionEngine` (its config's rules,
its own client order ids), one `PaperExchange` holding every product and one quote
balance (shared cash: an entry the account cannot pay for is refused, as live), and
`tradekit.core.risk.PortfolioRisk` in front of every entry, fed every report as the live
`Portfolio` feeds it: `max_open_positions`, `max_quote_exposure`,
`max_quote_exposure_per_pair` and the `daily_loss_limit` refuse entries exactly as they
do live (`EntrySkipped` with the same reason). The kill switch is a person's action live;
`halt_at` (a time, ns) pulls it in a backtest: every pair is HALTED there, as
`Portfolio.kill` does (working entries cancelled, stops left in place).

The pairs' trades are merged by time (ties in the order the pairs are given) and each
goes through its pair's step (`runner.Steps`, the one the single-pair backtest and the
engines share); bars run as their continuous path. As in `run_chunks`, a trade that
neither its pair's rules nor the paper book would act on is handed over in bulk.

Results: each pair's `BacktestResult` is that pair's trades and fills on the shared
account (its equity: the balance plus that pair's P&L, so its statistics read as "this
pair alone, on this account"); `result.total` is the portfolio's (all trades, the
account's equity at the end of every period of any pair), whose `stats()` are the
portfolio's statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from tradekit.backtest.result import BacktestResult
from tradekit.backtest.source import TickSource, as_source
from tradekit.backtest.spec import BacktestSpec, resolve_spec
from tradekit.core.money import MONEY_CONTEXT, ZERO
from tradekit.core.risk import RiskLimits


@dataclass
class PortfolioResult:
    """What a portfolio backtest returns (module docstring)."""

    total: BacktestResult
    pairs: dict[str, BacktestResult]
    limits: RiskLimits
    refusals: dict[str, dict[str, int]] = field(default_factory=dict)  # pair: why -> n

    def stats(self, risk_free: float = 0.0) -> dict[str, Any]:
        return self.total.stats(risk_free)

    def pair_stats(self, risk_free: float = 0.0) -> Any:
        """One row a pair: its statistics on the shared account."""
        import pandas as pd

        rows = [{"product_id": pid, **r.stats(risk_free)} for pid, r in self.pairs.items()]
        return pd.DataFrame(rows).set_index("product_id")

    def to_dataframe(self) -> Any:
        """Every pair's trades, one row each (a `product_id` column), by entry time."""
        import pandas as pd

        frames = []
        for pid, r in self.pairs.items():
            f = r.to_dataframe()
            f.insert(0, "product_id", pid)
            frames.append(f)
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True).sort_values("entry_time", kind="stable")

    def summary(self) -> str:
        from tradekit.backtest.result import cents, signed_pct

        lim = self.limits
        shown = {
            "max_open_positions": lim.max_open_positions,
            "max_quote_exposure": lim.max_quote_exposure,
            "max_quote_exposure_per_pair": lim.max_quote_exposure_per_pair,
            "daily_loss_limit": lim.daily_loss_limit,
        }
        on = ", ".join(f"{k} {v}" for k, v in shown.items() if v is not None) or "none"
        lines = [
            f"portfolio backtest: {len(self.pairs)} pairs, one account; risk limits: {on}",
            *self.total.summary().splitlines()[1:3],
        ]
        lines += [line for line in self.total.summary().splitlines() if "sharpe" in line]
        for pid, r in self.pairs.items():
            held = self.refusals.get(pid, {})
            refused = ", ".join(f"{n} {why}" for why, n in held.items())
            lines.append(
                f"  {pid}: {len(r.trades)} trades, P&L {cents(r.pnl, sign=True)} "
                f"({signed_pct(r.total_return)} of the account)"
                + (f"; entries refused: {refused}" if refused else "")
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        from tradekit.backtest.result import cents, signed_pct

        return (
            f"PortfolioResult({len(self.pairs)} pairs, {len(self.total.trades)} trades, "
            f"P&L {cents(self.total.pnl, sign=True)}, return {signed_pct(self.total.total_return)})"
        )

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    def plot(self) -> Any:
        """Plotly: the account's equity, and each pair's P&L on it."""
        import plotly.graph_objects as go

        fig = go.Figure()
        t = self.total
        fig.add_trace(
            go.Scatter(
                x=t.period_times.astype("datetime64[ns]"),
                y=t.period_equity,
                name="portfolio equity",
                line={"color": "slateblue", "width": 2},
            )
        )
        base = float(t.initial_equity)
        for pid, r in self.pairs.items():
            if r.period_times is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=r.period_times.astype("datetime64[ns]"),
                    y=r.period_equity - base,
                    name=f"{pid} P&L",
                    yaxis="y2",
                    line={"width": 1},
                )
            )
        fig.update_layout(
            title=f"portfolio: {len(self.pairs)} pairs, return {float(t.total_return):.2%}",
            yaxis={"title": "equity"},
            yaxis2={"title": "P&L by pair", "overlaying": "y", "side": "right"},
            height=480,
            hovermode="x unified",
        )
        return fig


def portfolio_backtest(
    config: object,
    data: Mapping[str, object],
    *,
    limits: RiskLimits | Mapping[str, Any] | None = None,
    halt_at: int | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> PortfolioResult:
    """Backtest several pairs on one account under the portfolio's risk limits.

    config: a `tradekit run` TOML file or a `Config` (each pair of `data` must be one of
    its pairs; its `[portfolio]` table gives the limits, its `[backtest]` table the
    account), or one dict of parameters used for every pair. data: {product_id: market
    data} (anything `tradekit.backtest` takes). limits: a `RiskLimits` or a dict of its
    fields, replacing the config's. Keyword overrides apply to every pair's spec.
    """
    if not data:
        raise ValueError("data: no pairs")
    sources = {pid: as_source(d, pid) for pid, d in data.items()}
    specs, config_limits = _specs(config, list(sources), overrides)
    if isinstance(limits, Mapping):
        limits = RiskLimits(**{k: _limit(k, v) for k, v in limits.items()})
    risk_limits = limits or config_limits or RiskLimits()
    return run_portfolio(specs, sources, risk_limits, halt_at=halt_at, progress=progress)


def _limit(name: str, value: Any) -> Any:
    from tradekit.core.money import to_decimal

    if value is None or name == "max_open_positions":
        return value
    return to_decimal(value, name)


def _specs(
    config: object, pids: list[str], overrides: dict[str, Any]
) -> tuple[dict[str, BacktestSpec], RiskLimits | None]:
    import os

    from tradekit.config import Config

    limits = None
    cfg = config
    extra: dict[str, Any] = {}
    if isinstance(config, str | os.PathLike):
        from tradekit.backtest.spec import load_backtest_config, spec_from_config

        cfg, extra = load_backtest_config(config)
        specs = {pid: spec_from_config(cfg, pid, None, extra) for pid in pids}
    else:
        specs = {pid: resolve_spec(config, pid) for pid in pids}
    if isinstance(cfg, Config):
        from tradekit.app.session import limits_of

        limits = limits_of(cfg)
    if overrides:
        specs = {pid: s.with_(**overrides) for pid, s in specs.items()}
    return specs, limits


@dataclass
class _Lane:
    """One pair's part of the merged run."""

    pid: str
    spec: BacktestSpec
    source: TickSource
    steps: Any
    path: Any
    prices: Any
    times: Any
    q: Decimal
    band: tuple[int, int, int | None] | None = None  # (lo, hi, until) in steps, if fresh
    fresh: bool = False  # `band` is current (False after any pair acted)
    pending: int = 0  # quiet trades not yet handed over
    last_quiet: int = -1

    def make(self, i: int) -> Any:
        from tradekit.backtest.runner import ONE
        from tradekit.core.events import MarketTrade

        price = MONEY_CONTEXT.multiply(Decimal(int(self.prices[i])), self.q)
        return MarketTrade(self.pid, price, ONE, int(self.times[i]))

    def flush(self) -> None:
        if self.pending:
            last = self.make(self.last_quiet)
            self.steps.decision.skipped(self.pending, last)
            self.steps.exchange.skipped(self.pending, last)
            self.pending = 0


def run_portfolio(
    specs: dict[str, BacktestSpec],
    sources: dict[str, TickSource],
    limits: RiskLimits,
    *,
    halt_at: int | None = None,
    progress: bool | None = None,
) -> PortfolioResult:
    """The merged run (module docstring) on resolved specs and sources."""
    import numpy as np

    from tradekit.backtest.curve import KEEP_EVERY_TRADE, Curve
    from tradekit.backtest.outcome import event_result
    from tradekit.backtest.runner import (
        BarPath,
        Steps,
        Trace,
        apply_control,
        as_floats,
        band_in_steps,
        quiet_band_of,
    )
    from tradekit.core.decision import DecisionEngine
    from tradekit.core.events import TradingState, TradingStateChanged
    from tradekit.core.risk import PortfolioRisk
    from tradekit.exchange.paper import PaperExchange

    first = next(iter(specs.values()))
    quotes = {s.product.quote_currency for s in specs.values()}
    if len(quotes) != 1:
        raise ValueError(f"one account holds one quote currency; the pairs use {sorted(quotes)}")
    exchange = PaperExchange(
        [s.product for s in specs.values()],
        {first.product.quote_currency: first.balance},
        first.maker_fee,
        first.taker_fee,
        id_seed="backtest",
        sell_fills=first.sell_fills,  # type: ignore[arg-type]
        edit_stops=True,  # stops move by edit, as live and as a one-pair backtest
    )
    risk = PortfolioRisk(limits)
    lanes: list[_Lane] = []
    for pid, spec in specs.items():
        source = sources[pid]
        spec = spec.at_bar_bound(source.bar_start)
        q = spec.product.quote_increment
        try:
            prices, times = source.arrays(q)
        except ValueError as exc:
            raise ValueError(
                f"{pid}: {exc} (a portfolio backtest needs prices on the grid)"
            ) from None
        decision = DecisionEngine(spec.params(), spec.entry.make(), f"bt-{pid}")
        risk.add(decision)
        trace = Trace()
        steps = Steps(decision, exchange, trace)
        steps.driver.observers.append(risk.observe)
        path = BarPath(steps, pid) if source.bars else None
        lanes.append(_Lane(pid, spec, source, steps, path, prices, times, q))
        if len(times):
            trace.first_ts = int(times[0])
    # every trade of every pair, by time (ties: the pairs' order)
    which = np.concatenate([np.full(len(lane.times), k) for k, lane in enumerate(lanes)])
    index = np.concatenate([np.arange(len(lane.times)) for lane in lanes])
    when = np.concatenate([lane.times for lane in lanes])
    order = np.lexsort((which, when))
    total = len(order)
    bar = None
    if progress if progress is not None else total >= 200_000:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="tick", unit_scale=True, desc="portfolio backtest")
    halted = halt_at is None
    for seen, (k, i) in enumerate(zip(which[order].tolist(), index[order].tolist(), strict=True)):
        if bar is not None and not seen & 0xFFFF:
            bar.update(seen - bar.n)
        lane = lanes[k]
        if not halted and int(lane.times[i]) >= halt_at:  # type: ignore[operator]
            halted = True
            for other in lanes:
                other.flush()
                ev = TradingStateChanged(
                    TradingState.HALTED, int(lane.times[i]), "kill switch (halt_at)"
                )
                apply_control(other.steps, ev)
                other.fresh = False
        if not lane.fresh:
            unsettled = lane.steps.driver.unsettled
            raw = None if unsettled else quiet_band_of(lane.steps.decision, exchange, lane.pid)
            lane.band = None if raw is None else band_in_steps(raw, lane.q)
            lane.fresh = True
        band = lane.band
        p = int(lane.prices[i])
        if band is not None:
            lo, hi, until = band
            if lo < p < hi and (until is None or int(lane.times[i]) < until):
                lane.pending += 1
                lane.last_quiet = i
                continue
        lane.flush()
        trade = lane.make(i)
        if lane.path is None:
            lane.steps.trade(i, trade)
        else:
            if i & 3:
                start = MONEY_CONTEXT.multiply(Decimal(int(lane.prices[i - 1])), lane.q)
                lane.path.cross(i, start, trade)
            lane.steps.trade(i, trade)
            lane.path.settle(i, trade)
        lane.steps.trace.handled += 1
        for other in lanes:  # any pair acting may change what the others may do
            other.fresh = False
    if bar is not None:
        bar.update(total - bar.n)
        bar.close()
    pairs: dict[str, BacktestResult] = {}
    refusals: dict[str, dict[str, int]] = {}
    for lane in lanes:
        lane.flush()
        trace = lane.steps.trace
        n = len(lane.prices)
        trace.n_ticks = n
        if lane.path is not None:
            trace.handled += lane.path.added
        if n:
            last = lane.make(n - 1)
            trace.last_price, trace.last_ts = last.price, last.ts
        curve = Curve(lane.spec.balance, _period_of(lane), lane.source.bars, n <= KEEP_EVERY_TRADE)
        curve.add(0, as_floats(lane.prices, lane.q), lane.times, trace.fills)
        result = event_result(lane.spec, lane.source, trace, lane.steps.decision, exchange, curve)
        pairs[lane.pid] = result
        refusals[lane.pid] = _refusals(result)
    total_result = _total(first, pairs, limits)
    return PortfolioResult(total_result, pairs, limits, refusals)


def _period_of(lane: _Lane) -> int | None:
    from tradekit.backtest.outcome import source_period

    return source_period(lane.source)


def _refusals(result: BacktestResult) -> dict[str, int]:
    """Entries held back, by reason: the risk limits' and guards' (EntrySkipped), the
    paper exchange's (funds)."""
    from tradekit.core.reports import EntrySkipped

    out: dict[str, int] = {}
    for r in result.reports:
        if type(r) is EntrySkipped:
            why = r.reason.split(":")[0]
            out[why] = out.get(why, 0) + 1
    for why, n in result.refused.items():
        key = "lack of funds" if "FUND" in why.upper() else why
        out[key] = out.get(key, 0) + n
    return out


def _total(
    first: BacktestSpec, pairs: dict[str, BacktestResult], limits: RiskLimits
) -> BacktestResult:
    """The account as a whole: every trade, and the equity at each period end of any
    pair (each pair's P&L carried forward to it)."""
    import numpy as np

    balance = first.balance
    base = float(balance)
    grids = [r.period_times for r in pairs.values() if r.period_times is not None]
    grid = np.unique(np.concatenate(grids)) if grids else np.empty(0, dtype=np.int64)
    equity = np.full(len(grid), base)
    for r in pairs.values():
        if r.period_times is None or not len(r.period_times):
            continue
        at = np.searchsorted(r.period_times, grid, side="right") - 1
        pnl = np.where(at >= 0, r.period_equity[np.maximum(at, 0)] - base, 0.0)
        equity += pnl
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    drawdown = float(((peak - equity) / peak).max()) if len(equity) else 0.0
    with localcontext(MONEY_CONTEXT):
        final = balance + sum((r.pnl for r in pairs.values()), ZERO)
        fees = sum((r.fees for r in pairs.values()), ZERO)
    trades = sorted(
        (t for r in pairs.values() for t in r.trades), key=lambda t: (t.entry_ts, t.entry_tick)
    )
    results = list(pairs.values())
    params: dict[str, Any] = {
        "pairs": ",".join(pairs),
        "max_open_positions": limits.max_open_positions,
        "max_quote_exposure": limits.max_quote_exposure,
        "max_quote_exposure_per_pair": limits.max_quote_exposure_per_pair,
        "daily_loss_limit": limits.daily_loss_limit,
    }
    return BacktestResult(
        product=first.product,
        params=params,
        path="events",
        trades=trades,
        stops=[],
        initial_equity=balance,
        final_equity=final,
        fees=fees,
        stop_moves=sum(r.stop_moves for r in results),
        n_ticks=sum(r.n_ticks for r in results),
        ticks_per_bar=1,
        first_ts=min(r.first_ts for r in results),
        last_ts=max(r.last_ts for r in results),
        last_price=None,
        holding_ns=max(r.holding_ns for r in results),
        unprotected_ns=sum(r.unprotected_ns for r in results),
        equity_times=grid,
        equity_values=equity,
        drawdown=drawdown,
        period_ns=min(r.period_ns for r in results),
        period_times=grid,
        period_equity=equity if len(equity) else None,
        refused={},
    )
