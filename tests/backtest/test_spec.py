"""A backtest applies the rules its config's live run would: protection and sanity
settings from a config, by name and validation from a dict, carried by sweeps.

The path with one bad print (BTC-USD, cent prices, one trade a second): the entry buys
10 at 100.00 (once, at the first trade, filled by the 99.50 print), the market climbs to
103.00, one print at 150.00, back to 103.00, then falls to 100.50.

- with the config's print band (5 %): 150 is ignored (`PrintIgnored`); the stop follows
  103.00 to 100.94 (trail 2 %) and sells on the 100.50 print.
- guards off (a spec from plain parameters): 150 ratchets the stop to 147.00; the next
  print (103) triggers it far under its limit (146.26): it rests unfilled, is replaced
  by an exit limit sell three trades later, which chases the falling market down to 95.
"""

from __future__ import annotations

import dataclasses
import pickle
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from pathlib import Path

import pytest

import tradekit
from tradekit.backtest import BacktestSpec, FastPathRefused, backtest, resolve_spec, sweep
from tradekit.backtest.spec import default_product
from tradekit.config import ConfigError, load_config_dict
from tradekit.core.events import MarketTrade
from tradekit.core.protection import BreachPolicy, ProtectionParams
from tradekit.core.reports import EntrySkipped, PrintIgnored, StopGappedThrough
from tradekit.core.sanity import SanityParams
from tradekit.data.generators import PricePath

SEC = 10**9
BTC = default_product("BTC-USD")
PRICES = [
    *("100", "99.50", "101", "102", "103", "150", "103", "102.50", "101.50", "100.50", "100"),
    *("99", "98", "97", "96", "95", "95", "95", "95", "95"),
]
BAD_PRINT = 5  # the index of 150
CONFIG = """
[backtest]
entry = { rule = "once", offset_pct = 0 }

[[pairs]]
product_id = "BTC-USD"
quote_budget = 1000
trail_pct = 0.02
max_entry_wait = "1h"
"""
# the same question as CONFIG, asked with a dict: the same defaults (guards included)
PLAIN = {
    "trail_pct": "0.02",
    "quote_budget": "1000",
    "entry": {"rule": "once", "offset_pct": "0"},
    "max_entry_wait": "1h",
}
BARE = {**PLAIN, "print_band_pct": "off"}  # the print band off: the bad print is used
SMOOTH = PricePath("BTC-USD", D("60000"), 2000, seed=3, tick_ns=60 * SEC, jump_std=0.0)


def trades(prices: list[str] = PRICES) -> list[MarketTrade]:
    return [MarketTrade("BTC-USD", D(p), D(1), i * SEC) for i, p in enumerate(prices)]


def config(tmp_path, extra: str = "", name: str = "bt.toml") -> str:
    path = tmp_path / name
    path.write_text(CONFIG + extra)
    return str(path)


def test_the_default_print_band_ignores_the_bad_print_from_a_config_or_a_dict(tmp_path):
    cfg = config(tmp_path)
    guarded = backtest(trades(), cfg)
    ignored = [r for r in guarded.reports if type(r) is PrintIgnored]
    assert [r.price for r in ignored] == [D("150")]
    (t,) = guarded.trades
    assert (t.entry_price, t.size) == (D("100.00"), D("10"))
    assert max(s.trigger for s in guarded.stops) == D("100.94")  # 103 x 0.98, cents down
    assert (t.exit_tick, t.exit_price) == (9, D("100.50"))  # the first print <= 100.94
    assert guarded.params["print_band_pct"] == D("0.05")
    assert (
        "  entry once (bid 0.00% under the last trade); guards: print_band_pct 0.05, "
        "max_order_value 25000, order_price_band_pct 0.05, confirm_trades 3, on_breach exit\n"
        "  held back: 1 prints ignored\n"
    ) in guarded.summary()

    # a dict asks the same question: the same defaults, the same answer
    same = backtest(trades(), PLAIN)
    assert same.trades == guarded.trades and same.params == guarded.params
    assert same.summary() == guarded.summary()

    plain = backtest(trades(), BARE)
    assert not any(type(r) is PrintIgnored for r in plain.reports)
    assert plain.params["print_band_pct"] is None and "print_band_pct" not in plain.summary()
    assert max(s.trigger for s in plain.stops) == D("147.00")  # the bad print's ratchet
    assert [r.price for r in plain.reports if type(r) is StopGappedThrough] == [D("101.50")]
    (p,) = plain.trades
    assert p.exit_tick > 9 and p.exit_price < D("96")
    assert guarded.pnl > plain.pnl  # what the config's print band saved

    # the fast path cannot prove the filter idle here: "auto" falls back to the events
    with pytest.raises(FastPathRefused, match="print_band_pct"):
        backtest(trades(), cfg, engine="fast")
    auto = backtest(trades(), cfg, engine="auto")
    assert auto.path == "events" and auto.trades == guarded.trades


def test_the_config_band_off_gives_the_plain_result(tmp_path):
    off = config(tmp_path, 'print_band_pct = "off"\n')
    assert backtest(trades(), off).trades == backtest(trades(), BARE).trades


def test_a_smooth_path_takes_the_fast_path_with_the_configs_guards_on(tmp_path):
    cfg = config(tmp_path)
    auto = backtest(SMOOTH, cfg, engine="auto")
    events = backtest(SMOOTH, cfg)
    assert auto.path == "fast" and auto.trades and auto.trades == events.trades
    assert auto.final_equity == events.final_equity


@pytest.mark.parametrize(
    ("guard", "value"),
    [
        ("max_order_value", "500"),  # a 1000 budget is worth more
        ("max_order_size", "0.001"),  # 1000 / 60000 is 0.0166...
        ("order_price_band_pct", "0.0005"),  # the entry bids 0.1 % under the last trade
    ],
)
def test_order_guards_from_a_config_skip_entries(tmp_path, guard, value):
    cfg = config(tmp_path, f'{guard} = "{value}"\n')
    bid = 'entry = { rule = "once", offset_pct = "0.001" }'
    Path(cfg).write_text(
        Path(cfg).read_text().replace('entry = { rule = "once", offset_pct = 0 }', bid)
    )
    result = backtest(SMOOTH, cfg)
    skipped = [r for r in result.reports if type(r) is EntrySkipped]
    assert len(skipped) == 1 and guard in skipped[0].reason
    assert result.trades == [] and result.final_equity == D("10000")
    assert "entries skipped" in result.summary()
    with pytest.raises(FastPathRefused, match=guard):
        backtest(SMOOTH, cfg, engine="fast")
    assert backtest(SMOOTH, cfg, engine="auto").path == "events"
    # the guard is what held the entry back: off, the same config trades
    assert backtest(SMOOTH, cfg, engine="auto", **{guard: "off"}).trades
    # and a dict of parameters naming the guard does the same as the config
    params = {**PLAIN, "entry": {"rule": "once", "offset_pct": "0.001"}, guard: value}
    again = backtest(SMOOTH, params)
    assert again.trades == [] and [r.reason for r in again.reports if type(r) is EntrySkipped]


def test_a_spec_from_a_config_runs_the_live_runs_params(tmp_path):
    data = {
        "pairs": [
            {
                "product_id": "BTC-USD",
                "trail_pct": "0.02",
                "quote_budget": "1000",
                "on_breach": "wait",
                "exit_reprice_after": "7s",
                "gap_exit_after_trades": 5,
                "print_band_pct": "0.03",
                "confirm_trades": 2,
                "max_order_size": "0.5",
            }
        ]
    }
    cfg = load_config_dict(data, environ={})
    spec = resolve_spec(cfg)
    assert spec.params() == cfg.pairs[0].params(BTC)  # exactly what a live run uses
    assert spec.protection.on_breach is BreachPolicy.WAIT
    assert spec.sanity.max_order_value == D("25000")  # the config's default, on
    assert resolve_spec(cfg.pairs[0]) == spec
    shown = backtest(SMOOTH, spec).params
    assert (shown["on_breach"], shown["exit_reprice_after_s"], shown["confirm_trades"]) == (
        "wait",
        D(7),
        2,
    )


def test_one_set_of_defaults_the_live_configs():
    """A dict, a bare BacktestSpec and a config file's pair: the same entry rule, entry
    wait and guards, those of `tradekit run`."""
    from tradekit.backtest import EntrySpec
    from tradekit.config import PairConfig

    live = PairConfig(product_id="BTC-USD", trail_pct=D("0.02"), quote_budget=D(1000))
    params = live.params(BTC)
    for spec in (
        resolve_spec({"trail_pct": "0.02"}),
        BacktestSpec(BTC, D("0.02")),
        resolve_spec(live),
    ):
        assert (spec.protection, spec.sanity) == (params.protection, params.sanity)
        assert spec.max_entry_wait_ns == params.max_entry_wait_ns == 300 * SEC
        assert spec.entry == EntrySpec("fixed_offset", D("0.001"))
        assert spec.params() == params
    set_ = resolve_spec(
        {
            **PLAIN,
            "print_band_pct": "0.03",
            "confirm_trades": "2",
            "on_breach": "wait",
            "gap_exit_after": 30,
            "max_order_value": "off",
        }
    )
    assert set_.sanity == dataclasses.replace(
        params.sanity, print_band_pct=D("0.03"), confirm_trades=2, max_order_value=None
    )
    assert set_.protection == ProtectionParams(on_breach="wait", gap_exit_after_ns=30 * SEC)
    assert pickle.loads(pickle.dumps(set_)) == set_  # sweeps ship specs to processes


def test_at_bar_is_a_bar_and_numpy_integers_are_whole_numbers():
    import numpy as np

    from tradekit.data.candles import Candle

    bars = [
        Candle(i * 60 * SEC, D(100 + i), D(101 + i), D(99 + i), D(100 + i), D(1)) for i in range(20)
    ]
    params = {**BARE, "entry": {"rule": "once", "at_bar": np.int64(10), "offset_pct": "0"}}
    for engine in ("events", "fast"):
        (t,) = backtest(bars, params, engine=engine).trades
        assert (t.entry_bar, t.entry_ts, t.entry_price) == (10, 600 * SEC, D("110.00"))
    spec = resolve_spec(params).with_(max_entry_wait_ns=np.int64(60 * SEC))
    assert type(spec.max_entry_wait_ns) is int and type(spec.entry.at_bar) is int
    with pytest.raises(IndexError, match="at_bar 99: the data has 20 bars"):
        backtest(bars, {**params, "entry": {"rule": "once", "at_bar": 99}})


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("print_band_pct", "1.5", "less than 1"),
        ("print_band_pct", "0", "greater than 0"),
        ("max_order_value", 0.5, "floats are not exact"),
        ("max_order_size", "-1", "greater than 0"),
        ("order_price_band_pct", "lots", "decimal"),
        ("on_breach", "sometimes", "'exit' or 'wait'"),
        ("confirm_trades", 0, "greater than or equal to 1"),
        ("gap_exit_after_trades", "many", "integer"),
        ("exit_reprice_after", "soon", "not a duration"),
        ("gap_exit_after", "2y", "not a duration"),
        ("max_order_value", "1e40", "out of range"),
    ],
)
def test_bad_guard_values_are_named(key, value, match):
    for attempt in (
        lambda: resolve_spec({**PLAIN, key: value}),
        lambda: resolve_spec(PLAIN).with_(**{key: value}),
    ):
        with pytest.raises(ConfigError, match=match) as err:
            attempt()
        assert f"  - {key}: " in str(err.value) and "backtest parameters" in str(err.value)


def test_unknown_names_list_the_guards():
    with pytest.raises(ValueError, match=r"parameter\(s\): print_band \(known: .*print_band_pct"):
        resolve_spec({**PLAIN, "print_band": "0.05"})
    with pytest.raises(ValueError, match="unknown backtest parameter"):
        resolve_spec(PLAIN).with_(print_bnd="0.05")


def test_with_and_sweeps_carry_and_sweep_the_guards(tmp_path):
    spec = resolve_spec(config(tmp_path))
    wider = spec.with_(trail_pct="0.03")
    assert (wider.protection, wider.sanity) == (spec.protection, spec.sanity)
    off = spec.with_(print_band_pct="off", on_breach="wait", max_entry_wait="90s")
    assert off.sanity.print_band_pct is None
    assert off.sanity.max_order_value == spec.sanity.max_order_value  # the rest kept
    assert off.protection.on_breach is BreachPolicy.WAIT and off.max_entry_wait_ns == 90 * SEC

    grid = {"print_band_pct": ["off", "0.05"], "max_order_value": ["off", "500"]}
    with ThreadPoolExecutor(2) as ex:
        frame = sweep(grid, trades(), ex, params=config(tmp_path), progress=False)
    assert list(frame["print_band_pct"]) == ["off", "off", D("0.05"), D("0.05")]
    assert list(frame["engine"]) == ["events"] * 4  # a bad print, then entries refused
    assert list(frame["trades"]) == [1, 0, 1, 0]  # max_order_value 500 skips the entry
    for row in (0, 2):
        one = backtest(trades(), config(tmp_path), **frame.iloc[row][list(grid)].to_dict())
        assert frame.iloc[row]["pnl"] == one.pnl
    assert frame.iloc[0]["pnl"] == backtest(trades(), BARE).pnl  # band off: the plain run
    assert frame.iloc[0]["pnl"] < frame.iloc[2]["pnl"]  # the band saved the position


def test_tradekit_backtest_takes_guard_overrides(tmp_path):
    result = tradekit.backtest(trades(), config(tmp_path), print_band_pct="off")
    assert result.params["print_band_pct"] is None
    assert result.trades == backtest(trades(), BARE).trades


def test_the_guard_names_are_the_configs_fields():
    from tradekit.config import GUARD_SETTINGS, PairConfig, PairGuards

    assert set(GUARD_SETTINGS) == set(PairGuards.model_fields)
    assert set(GUARD_SETTINGS) <= set(PairConfig.model_fields)
    # each one reaches the core: a setting changed changes the params a live run gets
    base = PairConfig(product_id="BTC-USD", trail_pct=D("0.02"), quote_budget=D(1000))
    changed = {
        "on_breach": "wait",
        "exit_reprice_after": 9,
        "gap_exit_after": 11,
        "gap_exit_after_trades": 7,
        "print_band_pct": D("0.09"),
        "confirm_trades": 5,
        "confirm_value": D(77),
        "confirm_after": 13,
        "max_order_value": D(123),
        "max_order_size": D(2),
        "order_price_band_pct": D("0.07"),
    }
    assert set(changed) == set(GUARD_SETTINGS)
    for name, value in changed.items():
        other = base.model_copy(update={name: value}).params(BTC)
        assert other != base.params(BTC), name
        assert resolve_spec({**PLAIN, name: value}).params().sanity != SanityParams() or (
            resolve_spec({**PLAIN, name: value}).params().protection != ProtectionParams()
        ), name
