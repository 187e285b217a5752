"""`tradekit backtest`, `tradekit sweep` and `tradekit candles` from the command line."""

from __future__ import annotations

import json
import time
from decimal import Decimal as D

from tradekit.cli import main
from tradekit.core.events import MarketTrade
from tradekit.sim.server import SimServer

CONFIG = """
[backtest]
balance = 10000
entry = { rule = "once", offset_pct = 0 }

[[pairs]]
product_id = "BTC-USD"
quote_budget = 1000
trail_pct = 0.05
stop_limit_buffer_pct = 0.01
print_band_pct = "off"  # bar 1 moves 14.6 %: the default band would hold the print back
"""
CANDLES = (
    "start,low,high,open,close,volume\n"
    "0,99,101,100,100,4\n60,96,110,100,108,4\n120,104,108,108,105,4\n"
)


def files(tmp_path):
    cfg = tmp_path / "bt.toml"
    cfg.write_text(CONFIG)
    data = tmp_path / "btc.csv"
    data.write_text(CANDLES)
    return str(cfg), str(data)


def test_backtest_json_and_text(tmp_path, capsys):
    cfg, data = files(tmp_path)
    assert main(["backtest", cfg, "--data", data, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trades"][0]["entry_price"] == "100.00"
    assert out["stats"]["closed_trades"] == 1 and D(out["stats"]["pnl"]) > 0
    assert main(["backtest", cfg, "--data", data, "--engine", "fast"]) == 0
    text = capsys.readouterr().out
    assert "1 trade (1 closed)" in text and "bar 0 buy 10 at 100.00" in text


def test_the_configs_guards_apply(tmp_path, capsys):
    _, data = files(tmp_path)
    guarded = tmp_path / "guarded.toml"
    # the default band (5 %); this market is thin (one BTC a print, about 100 USD), so
    # the confirming prints need be worth 300 USD in all, not the default 1000
    guarded.write_text(CONFIG.replace('print_band_pct = "off"', 'confirm_value = "300"'))
    assert main(["backtest", str(guarded), "--data", data, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"]["print_band_pct"] == "0.05"
    assert out["params"]["max_order_value"] == "25000"
    # the 110 print is held back until confirmed at 108 (three prints worth 324 over 30
    # s): the stop never reaches 104
    assert out["stats"]["closed_trades"] == 0
    assert [s["trigger"] for s in out["stops"]] == ["95.00", "95.95", "102.60"]
    # at the default 1000 USD those prints are too thin to confirm the move at all
    thin = tmp_path / "thin.toml"
    thin.write_text(CONFIG.replace('print_band_pct = "off"', ""))
    assert main(["backtest", str(thin), "--data", data, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["trigger"] for s in out["stops"]] == ["95.00", "95.95"]
    assert main(["backtest", str(guarded), "--data", data, "--engine", "fast"]) == 2
    assert "print_band_pct" in capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    cfg, data = files(tmp_path)
    assert main(["backtest", cfg, "--data", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("trail_pct = 0.05", "trail_pct = 2"))
    assert main(["backtest", str(bad), "--data", data]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trail_pct" in err
    assert main(["sweep", cfg, "--data", data, "--grid", "trail_pct"]) == 2
    assert "NAME=" in capsys.readouterr().err


def test_sweep_json(tmp_path, capsys):
    cfg, data = files(tmp_path)
    args = ["sweep", cfg, "--data", data, "--grid", "trail_pct=0.04:0.06:3", "--workers", "1"]
    assert main([*args, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["trail_pct"] for r in rows] == ["0.04", "0.05", "0.06"]
    assert all(r["engine"] == "fast" for r in rows)
    assert main(args) == 0
    assert "best return: trail_pct=" in capsys.readouterr().out
    # the pair's guards are axes too, by their config names
    guards = ["--grid", "print_band_pct=off,0.05", "--grid", "on_breach=exit,wait"]
    assert main([*args[:4], *guards, "--workers", "1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["print_band_pct"], r["on_breach"]) for r in rows] == [
        ("off", "exit"),
        ("off", "wait"),
        ("0.05", "exit"),
        ("0.05", "wait"),
    ]
    # band off: the hand-computed exit; the 5 % band holds back bar 1's 110 print
    assert [r["closed_trades"] for r in rows] == [1, 1, 0, 0]
    assert [r["engine"] for r in rows] == ["fast", "fast", "events", "events"]


def test_candles_from_the_simulator(tmp_path, capsys):
    with SimServer(keys_file=tmp_path / "k.json", public_rate_limit_per_s=1000.0) as sim:
        base = (int(time.time()) // 3600 - 3) * 3600
        sim.call(
            lambda st: [
                st.advance(MarketTrade("SOL-USD", D(150 + i % 5), D(1), (base + 60 * i) * 10**9))
                for i in range(120)
            ]
        )
        out = tmp_path / "sol.csv"
        # a range without trades is an error that says why, exit 2, no file
        args = ["candles", "SOL-USD", "--base-url", sim.base_url, "--no-cache", "-o", str(out)]
        hours_before = ["--start", str(base - 10 * 3600), "--end", str(base - 9 * 3600)]
        assert main([*args, *hours_before]) == 2
        assert "no ONE_MINUTE candles of SOL-USD" in capsys.readouterr().err
        assert not out.exists()
        code = main(
            [
                "candles",
                "SOL-USD",
                "--start",
                str(base),
                "--end",
                str(base + 7200),
                "--base-url",
                sim.base_url,
                "--no-cache",
                "-o",
                str(out),
            ]
        )
    assert code == 0
    assert "120 ONE_MINUTE candles of SOL-USD" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 121
    cfg, _ = files(tmp_path)
    assert main(["backtest", cfg, "--data", str(out), "--product", "BTC-USD"]) == 0
