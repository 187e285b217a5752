"""`tradekit run CONFIG` as a command: a short run on tradekit sim (started in the
process, on 127.0.0.1), and the refusals that must exit 2 with one clear line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tradekit.store.sqlite import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "portfolio.toml"
PAIRS = ("BTC-USD", "ETH-USD", "SOL-USD")
STATUS = re.compile(
    r"^  (?P<pid>[A-Z]+-[A-Z]+)\s+(?P<state>ACTIVE|PAUSED|HALTED)\s+"
    r"(?P<phase>flat|entering|in_position)\s+last \S+  held \S+  stop \S+  P&L \S+$"
)


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


def test_run_trades_the_example_on_the_simulator_and_prints_status_per_pair(tmp_path):
    db = tmp_path / "run.sqlite"
    proc = tradekit(
        "run",
        str(EXAMPLE),
        "--for",
        "4",
        "--db",
        str(db),
        "--speed",
        "100x",
        "--status-every",
        "1",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    where = r"tradekit sim at http://127\.0\.0\.1:\d+"
    assert re.fullmatch(rf"tradekit run: 3 pairs, {where}, store {re.escape(str(db))}", lines[0])
    stopped = lines.index("tradekit run: stopped; open stops are left in place")
    during = [STATUS.match(line) for line in lines[1:stopped]]
    after = [STATUS.match(line) for line in lines[stopped + 1 :]]
    assert all(during) and all(after), proc.stdout
    # a block of one line per pair, in the config's order, about once a second
    blocks = [tuple(m["pid"] for m in during[i : i + 3]) for i in range(0, len(during), 3)]
    assert len(during) % 3 == 0 and 2 <= len(blocks) <= 6, proc.stdout
    assert set(blocks) == {PAIRS}
    assert tuple(m["pid"] for m in after) == PAIRS
    assert {m["state"] for m in during + after} == {"ACTIVE"}

    with Store(db) as store:
        rows = store.journal()
        assert rows, "the run journaled nothing"
        assert store.meta_get("run_id")
        assert {r["product_id"] for r in rows} <= set(PAIRS)
        kinds = {(r["kind"], r["type"]) for r in rows}
        assert ("command", "PlaceLimitBuy") in kinds  # ETH's fixed offset enters at once
    assert Path(f"{db}.sim.jsonl").exists()  # the simulated exchange beside the store


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
