"""`tradekit run CONFIG` as a command: a short run on tradekit sim (started in the
process, on 127.0.0.1), and the refusals that must exit 2 with one clear line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tradekit.store.sqlite import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "portfolio.toml"
PAIRS = ("BTC-USD", "ETH-USD", "SOL-USD")
# a row of the status table: prices at the product's increment, money to the cent
ROW = re.compile(
    r"^(?P<pid>[A-Z]+-[A-Z]+)\s+(?P<state>active|paused|halted)\s+"
    r"(?P<phase>flat|entering|in position)\s+(?P<protection>[a-z]+)\s+"
    r"(?P<last>[\d,]+\.\d+)\s+(?P<held>–|[\d.]+)\s+(?P<stop>–|[\d,]+\.\d+)\s+"
    r"(?P<to_stop>–|-?[\d.]+%)\s+(?P<realized>[+-]?[\d,]+\.\d\d)\s+"
    r"(?P<unrealized>–|[+-]?[\d,]+\.\d\d)$"
)
HEADER = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  running [\d,]+ s  .* P&L [+-]?[\d,]+\.\d\d "
    r"\(realized [+-]?[\d,]+\.\d\d, unrealized [+-]?[\d,]+\.\d\d\)$"
)
FEED = re.compile(
    r"^feed: [\d,]+ messages?, [\d,]+ gaps?, [\d,]+ reconnects?, .* REST polls?, "
    r"[\d,]+ old trades? ignored$"
)
RESTING = re.compile(
    r"^    (?P<pid>[A-Z]+-[A-Z]+)\s+sell [\d.]+ stop [\d,]+\.\d+: the stop of the position held$"
)
SUMMARY = re.compile(
    r"^  (?P<pid>[A-Z]+-[A-Z]+)\s+\d+ entr(y|ies), \d+ fills?, \d+ positions? closed, "
    r"\d+ stop moves?, realized [+-]?[\d,]+\.\d\d"
)
DECIMAL_NOISE = re.compile(r"\d\.\d{9,}")  # no figure with more digits than an increment


def clean_env() -> dict[str, str]:
    """This environment without Coinbase keys or tradekit overrides."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "TRADEKIT__"))}


def tradekit(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradekit.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=clean_env(),
    )


def test_run_shows_a_status_view_and_a_summary_and_announces_the_store(tmp_path):
    db = tmp_path / "run.sqlite"
    args = ("run", str(EXAMPLE), "--db", str(db), "--speed", "100x", "--status-every", "1")
    proc = tradekit(*args, "--for", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    where = r"tradekit sim at http://127\.0\.0\.1:\d+"
    first = rf"tradekit run: 3 pairs, {where}, store {re.escape(str(db))} \(new run (\w+)\)"
    run_id = re.fullmatch(first, lines[0]).group(1)
    headers = [line for line in lines if HEADER.match(line)]
    rows = [m for line in lines if (m := ROW.match(line))]
    # a timestamped block about once a second, and one more at the end
    assert 3 <= len(headers) <= 6, proc.stdout
    assert len(rows) == 3 * len(headers)
    assert sum(1 for line in lines if FEED.match(line)) == len(headers)
    assert {m["pid"] for m in rows} == set(PAIRS)
    assert {m["state"] for m in rows} == {"active"}
    assert not DECIMAL_NOISE.search(proc.stdout), proc.stdout
    # the summary: one line per pair, then the total
    end = lines.index(next(x for x in lines if x.startswith("tradekit run: stopped after")))
    assert "open stops are left in place" in lines[end]
    assert tuple(m["pid"] for m in map(SUMMARY.match, lines[end + 1 : end + 4])) == PAIRS
    assert re.fullmatch(r"  realized P&L [+-]?[\d,]+\.\d\d USD \(fees included\)", lines[end + 4])
    # then what rests on the exchange, and why: a clean stop cancelled the entries
    rest = lines[end + 5 :]
    assert re.fullmatch(
        r"  on the exchange: (nothing of this run rests|1 order of this run rests"
        r"|\d+ orders of this run rest)",
        rest[0],
    )
    assert all(RESTING.match(x) for x in rest[1:]), rest

    with Store(db) as store:
        rows_ = store.journal()
        assert rows_, "the run journaled nothing"
        assert store.meta_get("run_id") == run_id
        assert {r["product_id"] for r in rows_} <= set(PAIRS)
        kinds = {(r["kind"], r["type"]) for r in rows_}
        assert ("command", "PlaceLimitBuy") in kinds  # ETH's fixed offset enters at once
    assert Path(f"{db}.sim.jsonl").exists()  # the simulated exchange beside the store

    # run again on the same store: the resume is announced in the first line
    again = tradekit(*args, "--for", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].endswith(f"(resumed run {run_id})")


def test_ctrl_c_stops_the_run_with_a_summary(tmp_path):
    db = tmp_path / "run.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradekit.cli", "run", str(EXAMPLE), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    try:
        first = proc.stdout.readline()  # the session is open and the run starting
        assert first.startswith("tradekit run: 3 pairs"), first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    lines = out.splitlines()
    stopped = next(x for x in lines if x.startswith("tradekit run: interrupted after"))
    assert "open stops are left in place" in stopped
    assert sum(1 for x in lines if SUMMARY.match(x)) == 3
    assert err.strip() == "tradekit: interrupted"


def test_live_without_keys_exits_2_with_one_line_about_the_keys(tmp_path):
    db = tmp_path / "live.sqlite"
    proc = tradekit("run", str(EXAMPLE), "--live", "--for", "1", "--db", str(db), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("tradekit: error: --live needs real keys")
    assert "COINBASE_API_KEY" in line and "COINBASE_API_SECRET" in line
    assert "keys_file" in line
    assert not db.exists()  # refused before anything was opened


BAD_CONFIG = """\
[portfolio]
max_open_positions = 0

[[pairs]]
product_id = "BTC-USD"
size = "0.01"
trail_pct = 2
colour = "red"
"""


@pytest.mark.parametrize(
    "name, text",
    [
        ("invalid.toml", BAD_CONFIG),
        ("broken.toml", "pairs = [\n"),
        ("missing.toml", None),
    ],
    ids=["invalid", "not-toml", "missing"],
)
def test_a_bad_config_exits_2_with_one_line_naming_the_file(tmp_path, name, text):
    config = tmp_path / name
    if text is not None:
        config.write_text(text, encoding="utf-8")
    db = tmp_path / "never.sqlite"
    proc = tradekit("run", str(config), "--for", "1", "--db", str(db), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"tradekit: error: {config}")
    assert not db.exists()


def test_the_one_line_about_a_bad_config_says_what_is_wrong(tmp_path):
    config = tmp_path / "invalid.toml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    proc = tradekit("run", str(config), "--for", "1", "--db", str(tmp_path / "x"), cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert "trail_pct" in line and "colour" in line and "max_open_positions" in line


# -- supervision -------------------------------------------------------------------------

UNIT = EXAMPLE.with_name("tradekit.service")


def unit_settings() -> dict[str, str]:
    out = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out[key] = value
    return out


def test_a_killed_run_is_restarted_by_its_unit_and_resumes_on_the_same_store(tmp_path):
    """The unit in examples/ restarts a run that died (Restart=on-failure); run here by a
    minimal supervisor that follows its settings, with the paths moved to a temp dir."""
    unit = unit_settings()
    assert unit["Restart"] == "on-failure" and unit["KillSignal"] == "SIGINT"
    argv = unit["ExecStart"].split()
    assert argv[0].endswith("/tradekit") and argv[1] == "run" and "--live" not in argv
    db = tmp_path / "run.sqlite"
    cmd = [sys.executable, "-m", "tradekit.cli", "run", str(EXAMPLE), "--db", str(db)]
    cmd += ["--speed", "100x"]
    first = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=clean_env(),
    )  # fmt: skip
    try:
        assert first.stdout.readline().startswith("tradekit run: 3 pairs")
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until it has placed stops: a state to resume
            with Store(db) as s:
                if (
                    sum(1 for r in s.journal(kinds="command") if r["type"] == "PlaceStopLimitSell")
                    >= 2
                ):
                    break
            time.sleep(0.2)
        first.kill()  # a crash: no cleanup at all
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL  # a failure: Restart=on-failure applies
    with Store(db) as s:
        before = {r["payload"]["client_order_id"] for r in s.journal(kinds="command")}
    again = tradekit(*cmd[3:], "--for", "2", cwd=tmp_path)  # the supervisor's restart
    assert again.returncode == 0, again.stderr
    assert "resumed run" in again.stdout.splitlines()[0]
    with Store(db) as s:
        placed: dict[str, set[tuple[str, str]]] = {}
        for r in s.journal(kinds="command"):
            if r["type"].startswith("Place"):
                key = (r["type"], r["payload"]["size"])
                placed.setdefault(r["payload"]["client_order_id"], set()).add(key)
        # an id journaled twice is the same order sent again (recovery), never another
        assert all(len(kinds) == 1 for kinds in placed.values())
        assert before <= {r["payload"]["client_order_id"] for r in s.journal(kinds="command")}


def test_the_unit_restarts_on_an_exchange_failure_and_not_on_what_a_person_must_fix():
    from tradekit.cli import EXIT_EXCHANGE, EXIT_FIX, EXIT_REFUSED

    unit = unit_settings()
    assert unit["Restart"] == "on-failure"  # any non-zero status, unless prevented
    prevented = {int(s) for s in unit["RestartPreventExitStatus"].split()}
    assert prevented == {EXIT_FIX, EXIT_REFUSED}
    assert EXIT_EXCHANGE not in prevented and len({EXIT_EXCHANGE, EXIT_FIX, EXIT_REFUSED}) == 3


def test_an_exchange_that_fails_exits_75_in_one_line(tmp_path, monkeypatch, capsys):
    """The exchange (tradekit sim, every authenticated call a 5xx) fails as the run opens:
    75, "start again later", one line, no traceback; the unit restarts it."""
    from tradekit.cli import EXIT_EXCHANGE, main
    from tradekit.sim.server import SimServer

    started = SimServer.start

    def failing(self):
        server = started(self)
        server.state.faults.update({"rest_error_rate": 1.0})
        return server

    monkeypatch.setattr(SimServer, "start", failing)
    db = tmp_path / "run.sqlite"
    assert main(["run", str(EXAMPLE), "--for", "1", "--db", str(db)]) == EXIT_EXCHANGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("tradekit: exchange error (start again later): GET ")
    assert "HTTP 5" in line


def test_a_refused_key_is_told_apart_from_an_outage():
    from tradekit.cli import EXIT_EXCHANGE, EXIT_REFUSED, exchange_status
    from tradekit.engine.portfolio import ExchangeHalted
    from tradekit.exchange.coinbase.common import AuthenticationError
    from tradekit.exchange.types import OutcomeUnknown

    try:
        try:
            raise AuthenticationError("GET /orders: HTTP 401")
        except AuthenticationError as exc:
            raise ExchangeHalted("left in place: ...") from exc
    except ExchangeHalted as halted:
        assert exchange_status(halted) == EXIT_REFUSED
    assert exchange_status(OutcomeUnknown("GET /orders: HTTP 500")) == EXIT_EXCHANGE
    assert exchange_status(ConnectionError("feed: gave up")) == EXIT_EXCHANGE
