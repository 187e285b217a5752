"""Sweeps: the same DataFrame from the default process pool and a Dask LocalCluster;
rows in grid order; each row equals the single backtest of its configuration."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D

import pytest

from tradekit.backtest import backtest, expand_grid, heatmap, sweep
from tradekit.backtest.sweep import parse_axis
from tradekit.data.generators import PricePath

SEC = 10**9
PATH = PricePath("BTC-USD", D("60000"), 4000, seed=11, tick_ns=60 * SEC, jump_std=0.0)
BASE = {
    "trail_pct": "0.02",
    "entry": {"rule": "fixed_offset", "offset_pct": "0.001"},
    "stop_limit_buffer_pct": "0.01",
}
GRID = {"trail_pct": ["0.005", "0.01", "0.03"], "min_ratchet": ["0", "0.002"]}


def test_process_pool_and_dask_give_identical_frames():
    from distributed import Client, LocalCluster

    pool = sweep(GRID, PATH, params=BASE, workers=2, progress=False)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        dask = sweep(GRID, PATH, client, params=BASE, progress=False)
    assert pool.equals(dask)
    assert list(zip(pool["trail_pct"], pool["min_ratchet"], strict=True)) == [
        (D(t), D(m)) for t in GRID["trail_pct"] for m in GRID["min_ratchet"]
    ]
    assert set(pool["engine"]) == {"fast"}
    # each row is the backtest of its configuration
    one = backtest(PATH, {**BASE, "trail_pct": "0.01", "min_ratchet": "0.002"})
    row = pool.iloc[3]
    assert (row["trades"], row["pnl"], row["stop_moves"]) == (
        len(one.trades),
        one.pnl,
        one.stop_moves,
    )
    assert row["max_drawdown"] == pytest.approx(one.max_drawdown)
    # the ranking statistics are in every row, equal to the single run's
    stats = one.stats()
    for name in ("sharpe", "sortino", "calmar", "cagr", "profit_factor", "avg_trade"):
        assert row[name] == pytest.approx(stats[name], rel=1e-9), name
    assert row["expectancy"] == stats["expectancy"]
    best = pool.sort_values("sharpe", ascending=False).iloc[0]
    assert best["sharpe"] == pool["sharpe"].max()


def test_event_path_rows_and_any_executor():
    grid = [{"trail_pct": "0.01"}, {"trail_pct": "0.02", "entry_rule": "pullback"}]
    with ThreadPoolExecutor(2) as ex:
        frame = sweep(grid, PATH, ex, params=BASE, progress=False)
    assert list(frame["engine"]) == ["fast", "events"]  # a pullback entry: the event path
    pull = backtest(PATH, {**BASE, "entry": {"rule": "pullback", "offset_pct": "0.001"}})
    assert frame.iloc[1]["pnl"] == pull.pnl
    fig = heatmap(
        sweep(GRID, PATH, ThreadPoolExecutor(1), params=BASE, progress=False),
        "trail_pct",
        "min_ratchet",
    )
    assert len(fig.data[0].z) == 2 and len(fig.data[0].z[0]) == 3
    # returns in percent on a scale centred at zero; the axes' fractions as percentages
    assert fig.data[0].zmid == 0 and fig.data[0].colorbar.ticksuffix == "%"
    assert "%" in fig.data[0].x[0]
    # a risk-free rate lowers every Sharpe ratio
    with ThreadPoolExecutor(1) as ex:
        rf = sweep(GRID, PATH, ex, params=BASE, progress=False, risk_free=0.05)
        zero = sweep(GRID, PATH, ex, params=BASE, progress=False)
    assert (rf["sharpe"] < zero["sharpe"]).all()


def test_grids_and_axes():
    assert expand_grid({"a": [1, 2], "b": [3]}) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]
    assert parse_axis("trail_pct=0.005:0.05:10") == (
        "trail_pct",
        [D("0.005") * i for i in range(1, 11)],
    )
    assert parse_axis("min_ratchet=0,0.001") == ("min_ratchet", ["0", "0.001"])
    assert parse_axis("x=0:1:3")[1] == [D(0), D("0.5"), D(1)]
    with pytest.raises(ValueError, match="NAME="):
        parse_axis("trail_pct")
    with pytest.raises(TypeError, match="floats are refused"):
        sweep({"trail_pct": [0.01]}, PATH, ThreadPoolExecutor(1), progress=False)
    with pytest.raises(ValueError, match="unknown backtest parameter"):
        sweep({"trial_pct": ["0.01"]}, PATH, ThreadPoolExecutor(1), progress=False)
