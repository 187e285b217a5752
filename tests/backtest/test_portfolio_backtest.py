"""Portfolio backtests: several pairs on one account under the live portfolio's risk
limits, refusing the same entries, for the same reasons, at the same trades, as the
live async `Portfolio` on the same prices."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

import tradekit
from tradekit.backtest import PortfolioResult, resolve_spec
from tradekit.core.decision import DecisionEngine
from tradekit.core.events import MarketTrade
from tradekit.core.reports import EntrySkipped, PositionClosed
from tradekit.core.risk import RiskLimits
from tradekit.data.generators import PricePath
from tradekit.engine.portfolio import Portfolio
from tradekit.exchange.aio import AsyncExchange
from tradekit.exchange.paper import PaperExchange
from tradekit.store.sqlite import Store

SEC = 10**9
PAIRS = {"BTC-USD": "60000", "ETH-USD": "3000", "SOL-USD": "150"}
PARAMS = {"trail_pct": "0.01", "quote_budget": "1500", "balance": "5000"}
LIMITS = {
    "positions": RiskLimits(max_open_positions=2, daily_loss_limit=D("60")),
    "exposure": RiskLimits(max_quote_exposure=D("2800"), max_quote_exposure_per_pair=D("1600")),
}
REASONS = {
    "positions": {"max open positions", "daily loss limit"},
    "exposure": {"max total exposure"},
}


def paths(ticks: int = 3000) -> dict[str, PricePath]:
    return {
        pid: PricePath(pid, D(price), ticks, seed=i + 1, tick_ns=5 * SEC, volatility=1.5)
        for i, (pid, price) in enumerate(PAIRS.items())
    }


def live_run(tmp_path, limits: RiskLimits) -> tuple[list[tuple[str, str, int]], dict[str, list[D]]]:
    """The live async Portfolio on the same prices: its refusals and closed P&Ls."""
    data = paths()
    merged = sorted(
        (t for path in data.values() for t in path.ticks()),
        key=lambda t: (t.ts, list(PAIRS).index(t.product_id)),
    )
    specs = {pid: resolve_spec(PARAMS, pid) for pid in PAIRS}
    first = specs["BTC-USD"]

    async def feed() -> AsyncIterator[MarketTrade]:
        for t in merged:
            yield t

    async def run() -> None:
        paper = PaperExchange(
            [s.product for s in specs.values()],
            {"USD": first.balance},
            first.maker_fee,
            first.taker_fee,
            id_seed="backtest",
            edit_stops=True,  # as the live exchange does (config exchange.edit_stops)
        )
        decisions = [
            DecisionEngine(s.params(), s.entry.make(), f"bt-{pid}") for pid, s in specs.items()
        ]
        pf = Portfolio(decisions, AsyncExchange(paper), store, feed(), limits=limits)
        await pf.run()

    with Store(tmp_path / "live.sqlite") as store:
        asyncio.run(run())
        reports = list(store.journal(kinds="report"))
    skipped = [
        (r["product_id"], r["payload"]["reason"], r["ts"])
        for r in reports
        if r["type"] == "EntrySkipped"
    ]
    closed: dict[str, list[D]] = {pid: [] for pid in PAIRS}
    for r in reports:
        if r["type"] == "PositionClosed":
            closed[r["product_id"]].append(D(r["payload"]["realized_pnl"]))
    return skipped, closed


@pytest.mark.parametrize("case", list(LIMITS))
def test_risk_refusals_equal_the_live_portfolios(tmp_path, case):
    result = tradekit.backtest(PARAMS, data=paths(), limits=LIMITS[case])
    assert isinstance(result, PortfolioResult)
    ours = sorted(
        (pid, r.reason, r.ts)
        for pid, res in result.pairs.items()
        for r in res.reports
        if type(r) is EntrySkipped
    )
    live_skipped, live_closed = live_run(tmp_path, LIMITS[case])
    assert ours == sorted(live_skipped)
    reasons = {why.split(":")[0] for _, why, _ in ours}
    assert REASONS[case] <= reasons, reasons
    for pid, res in result.pairs.items():
        closed = [r.realized_pnl for r in res.reports if type(r) is PositionClosed]
        assert closed == live_closed[pid], pid
    # the account is one: its P&L is the pairs' and its refusals are listed per pair
    assert result.total.pnl == sum(r.pnl for r in result.pairs.values())
    assert result.refusals["BTC-USD"] or result.refusals["ETH-USD"]
    assert "entries refused" in result.summary()
    table = result.pair_stats()
    assert list(table.index) == list(PAIRS) and "sharpe" in table.columns
    assert set(result.to_dataframe()["product_id"]) <= set(PAIRS)
    assert result.stats()["trades"] == sum(len(r.trades) for r in result.pairs.values())


def test_shared_cash_and_the_kill_switch():
    data = paths(1500)
    # 5000 on the account, 3000 a pair: the second entry cannot be paid for
    poor = tradekit.backtest({**PARAMS, "quote_budget": "3000"}, data=data)
    funds = [why for r in poor.refusals.values() for why in r if why == "lack of funds"]
    assert funds and "lack of funds" in poor.summary()
    # halted half way: no entry after it, what was held keeps its stop
    half = PricePath("BTC-USD", D(1), 1).start_ts + 750 * 5 * SEC
    halted = tradekit.backtest(PARAMS, data=data, halt_at=half)
    entries = [t.entry_ts for r in halted.pairs.values() for t in r.trades]
    assert entries and max(entries) < half
    with pytest.raises(TypeError, match="data="):
        tradekit.backtest(PARAMS, data, data=data)
