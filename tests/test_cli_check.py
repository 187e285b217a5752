"""`tradekit check CONFIG [--live]` against the simulator (real sockets): a ready account
passes, and each problem, injected, fails (or warns) on its own row with the exit status
a script can use."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tradekit.cli import main
from tradekit.exchange.coinbase._sync.rest import CoinbaseRest
from tradekit.exchange.coinbase.credentials import Credentials
from tradekit.sim.auth import generate_key, write_key_file
from tradekit.sim.server import SimServer

FAST = 100_000.0
CHECKS = (
    "key|signed request|clock|fee tier|product|sizes|paper balance|balance|open orders|stop edits"
)
ROW = re.compile(rf"^({CHECKS})\s{{2,}}(\S+)\s+(OK|WARN|FAIL|SKIP)\s+(.*)$")
PAIRS = """
[[pairs]]
product_id = "BTC-USD"
quote_budget = 2500
trail_pct = 0.004

[[pairs]]
product_id = "ETH-USD"
size = "0.5"
trail_pct = 0.005
"""


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def make(**kw: Any) -> SimServer:
        kw.setdefault("keys_file", tmp_path / "key.json")
        sim = SimServer(rate_limit_per_s=FAST, public_rate_limit_per_s=FAST, **kw).start()
        started.append(sim)
        for pid, price in (("BTC-USD", "60000.00"), ("ETH-USD", "3000.00")):
            print_trade(sim, pid, price)
        return sim

    yield make
    for sim in started:
        sim.stop()


def print_trade(sim: SimServer, pid: str, price: str) -> None:
    from tradekit.core.events import MarketTrade

    sim.call(lambda st: st.advance(MarketTrade(pid, D(price), D("1"), st.now(), "1")))


def write_config(tmp_path: Path, keys: Path, extra: str = "", pairs: str = PAIRS) -> Path:
    path = tmp_path / "live.toml"
    path.write_text(
        f'[exchange]\nkind = "coinbase"\nkeys_file = "{keys}"\n\n'
        f"[portfolio]\nmax_open_positions = 2\n{extra}\n{pairs}"
    )
    return path


def check(
    capsys: Any, config: Path, sim: SimServer, *more: str
) -> tuple[int, dict[str, list[str]]]:
    """Run the command; its exit status and its rows by check name: 'RESULT subject detail'."""
    status = main(["check", str(config), "--base-url", sim.base_url, *more])
    out = capsys.readouterr().out
    rows: dict[str, list[str]] = {}
    last: list[str] | None = None
    for line in out.splitlines():
        if last is not None and line.startswith("   ") and line.strip():
            last[-1] += " " + line.strip()  # the detail, wrapped onto the next line
            continue
        last = None
        m = ROW.match(line)
        if m:
            last = rows.setdefault(m.group(1), [])
            last.append(f"{m.group(3)} {m.group(2)} {m.group(4)}".rstrip())
    assert out.splitlines()[-1].startswith("tradekit check: "), out
    return status, rows


def test_a_ready_account_passes(make_sim: Any, tmp_path: Path, capsys: Any) -> None:
    sim = make_sim()
    status, rows = check(capsys, write_config(tmp_path, sim.keys_file), sim)
    assert status == 0, rows
    assert rows["key"][0].startswith("OK ") and "mode 600" in rows["key"][0]
    assert rows["signed request"] == ["OK /accounts accepted (4 accounts)"]
    assert rows["clock"][0].startswith("OK")
    assert [r.split()[:2] for r in rows["product"]] == [["OK", "BTC-USD"], ["OK", "ETH-USD"]]
    assert all(r.startswith("OK") for r in rows["sizes"]), rows["sizes"]
    assert "budget 2500 USD" in rows["sizes"][0] and "size 0.5" in rows["sizes"][1]
    assert rows["fee tier"][0].startswith("OK") and "taker 0.60%" in rows["fee tier"][0]
    assert rows["balance"][0].startswith("OK USD")
    assert rows["open orders"] == ["OK - none"]
    assert rows["stop edits"][0].startswith("SKIP")


def test_a_key_file_others_can_read_fails(make_sim: Any, tmp_path: Path, capsys: Any) -> None:
    sim = make_sim()
    os.chmod(sim.keys_file, 0o644)
    status, rows = check(capsys, write_config(tmp_path, sim.keys_file), sim)
    assert status == 1 and rows["key"][0].startswith("FAIL")
    assert "readable by others (mode 644)" in rows["key"][0]


def test_a_key_the_exchange_does_not_know_fails(make_sim: Any, tmp_path: Path, capsys: Any) -> None:
    sim = make_sim()
    other = tmp_path / "other.json"
    name, pem, _ = generate_key()
    write_key_file(other, name, pem)
    status, rows = check(capsys, write_config(tmp_path, other), sim)
    assert status == 1 and rows["key"][0].startswith("OK")
    assert rows["signed request"][0].startswith("FAIL") and "refused" in rows["signed request"][0]
    assert pem.splitlines()[1] not in str(rows)  # the secret is never shown


@pytest.mark.parametrize(
    ("flags", "pairs", "row", "expected"),
    [
        (
            {},
            PAIRS.replace("ETH-USD", "NOPE-USD"),
            "product",
            "FAIL NOPE-USD no such product on the exchange",
        ),
        (
            {"ETH-USD": {"status": "delisted", "trading_disabled": True}},
            PAIRS,
            "product",
            "FAIL ETH-USD does not trade now: status delisted, trading disabled",
        ),
        (
            {"ETH-USD": {"cancel_only": True}},
            PAIRS,
            "product",
            "FAIL ETH-USD does not trade now: cancel only",
        ),
        (
            {"ETH-USD": {"base_min_size": "1"}},
            PAIRS,
            "sizes",
            "FAIL ETH-USD size 0.5: under the minimum 1 ETH",
        ),
        (
            {"BTC-USD": {"quote_min_size": "5000"}},
            PAIRS,
            "sizes",
            "FAIL BTC-USD budget 2500 USD = 0.04166666 at 60000.00: worth 2,499.99, under the "
            "minimum order of 5000 USD",
        ),
    ],
)
def test_product_problems_fail_on_their_row(
    make_sim: Any, tmp_path: Path, capsys: Any, flags: dict, pairs: str, row: str, expected: str
) -> None:
    sim = make_sim()
    sim.call(lambda st: st.product_flags.update(flags))
    status, rows = check(capsys, write_config(tmp_path, sim.keys_file, pairs=pairs), sim)
    assert status == 1
    assert expected in rows[row], rows[row]


def test_balances_short_of_the_budgets(make_sim: Any, tmp_path: Path, capsys: Any) -> None:
    sim = make_sim(balances={"USD": D("100")})
    status, rows = check(capsys, write_config(tmp_path, sim.keys_file), sim)
    assert status == 1
    assert rows["balance"][0].startswith("FAIL USD 100.00 USD available")
    assert "not even one entry fits" in rows["balance"][0]
    # enough for one entry, not for both: a warning (entries will be refused)
    sim2 = make_sim(balances={"USD": D("2000")}, keys_file=tmp_path / "k2.json")
    status, rows = check(capsys, write_config(tmp_path, sim2.keys_file), sim2)
    assert status == 0 and rows["balance"][0].startswith("WARN USD")


def test_a_clock_far_from_the_exchanges_fails(make_sim: Any, tmp_path: Path, capsys: Any) -> None:
    sim = make_sim()
    sim.call(lambda st: setattr(st, "clock", lambda: time.time_ns() - 60 * 10**9))
    status, rows = check(capsys, write_config(tmp_path, sim.keys_file), sim)
    assert status == 1
    assert rows["clock"][0].startswith("FAIL") and "ahead of the exchange" in rows["clock"][0]


def test_foreign_open_orders_are_listed(make_sim: Any, tmp_path: Path, capsys: Any) -> None:
    sim = make_sim()
    with CoinbaseRest(Credentials.from_file(sim.keys_file), sim.base_url) as rest:
        assert rest.place_limit_buy("my-own-order", "BTC-USD", D("0.01"), D("50000.00")).success
    status, rows = check(capsys, write_config(tmp_path, sim.keys_file), sim)
    assert status == 0  # a warning: it works, but the user should know
    [row] = rows["open orders"]
    assert row.startswith("WARN BTC-USD BUY limit_limit_gtc 0.01 (my-own-order), holds")
    assert "not tradekit's" in row


@pytest.mark.parametrize("enabled", [True, False])
def test_live_previews_a_stop_edit(
    make_sim: Any, tmp_path: Path, capsys: Any, enabled: bool
) -> None:
    sim = make_sim()
    sim.call(lambda st: setattr(st, "edit_stop_enabled", enabled))
    with CoinbaseRest(Credentials.from_file(sim.keys_file), sim.base_url) as rest:
        stop = rest.place_stop_limit(
            "abc123-BTC-USD-2", "BTC-USD", D("0.1"), D("59000.00"), D("58900.00")
        )
        assert stop.success
    config = write_config(tmp_path, sim.keys_file)
    status, rows = check(capsys, config, sim, "--live")
    [row] = rows["stop edits"]
    if enabled:
        assert row.startswith("OK BTC-USD supported"), row
    else:
        assert row.startswith("WARN BTC-USD not supported (ONLY_LIMIT_ORDER_EDITS_SUPPORTED)"), row
    assert status == 0
    # the preview changed nothing
    order = sim.call(lambda st: st.exchange.get_order(stop.order_id))
    assert (order.stop_price, order.limit_price) == (D("59000.00"), D("58900.00"))
    [own] = rows["open orders"]
    assert own.startswith("OK tradekit 1 of tradekit's (a run resumes them from its store")


def test_a_paper_config_checks_the_public_market_and_paper_balances(
    make_sim: Any, tmp_path: Path, capsys: Any
) -> None:
    sim = make_sim()
    path = tmp_path / "paper.toml"
    path.write_text(
        f'[exchange]\nkind = "paper"\nmarket_rest_url = "{sim.base_url}"\n'
        f'market_ws_url = "{sim.ws_url}"\npaper_balances = {{USD = 1000}}\n{PAIRS}'
    )
    status, rows = check(capsys, path, sim)
    assert rows["key"] == ["SKIP - paper trading needs no key"]
    assert "signed request" not in rows
    # the budgets against the paper balances (fees at Coinbase's highest taker rate)
    [funds] = rows["paper balance"]
    assert funds.startswith("FAIL USD 1,000.00 USD available") and "not even one" in funds
    assert [r.split()[:2] for r in rows["product"]] == [["OK", "BTC-USD"], ["OK", "ETH-USD"]]
    assert rows["open orders"] == ["SKIP - no key: paper orders never reach it"]
    assert status == 1


def test_an_exchange_that_does_not_answer_fails_plainly(tmp_path: Path, capsys: Any) -> None:
    import socket

    keys = tmp_path / "key.json"
    name, pem, _ = generate_key()
    write_key_file(keys, name, pem)
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = main(
        ["check", str(write_config(tmp_path, keys)), "--base-url", f"http://127.0.0.1:{port}"]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "signed request" in out and "no answer from the exchange" in out
