"""Crash tests with a real process: SIGKILL at every step of cancel/replace and of fill
handling, restart, and compare with an uninterrupted run of the same path."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("crashrun.py")
TICKS = 4000


def run(
    tmp: Path, kill: str | None = None, volatility: float | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(RUNNER), str(tmp / "db.sqlite"), str(tmp / "paper.jsonl")]
    cmd.append(str(TICKS))
    if kill:
        cmd += ["--kill", kill]
    if volatility is not None:
        cmd += ["--volatility", str(volatility)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    proc = run(tmp_path_factory.mktemp("baseline"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # the path must exercise what is tested: moves, fills, closed positions
    assert result["closed"] >= 2
    assert sum(1 for o in result["orders"] if o[3] != "None") >= 6
    return result


KILLS = [
    f"{where}:{when}:{n}"
    for where, whens in (
        ("journal-cancel", ("before", "after")),
        ("cancel", ("before", "after")),
        ("journal-cancelled", ("before", "after")),
        ("place-stop", ("before", "after")),
        ("advance-fill", ("after",)),  # the exchange filled; the engine has not heard
        ("journal-fill", ("before", "after")),
    )
    for when in whens
    for n in (1, 4, 9)
]


@pytest.mark.parametrize("kill", KILLS)
def test_sigkill_then_restart_matches_an_uninterrupted_run(tmp_path, baseline, kill):
    crashed = run(tmp_path, kill)
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)
    assert crashed.stdout == ""  # it died before the end
    resumed = run(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    coids = [o[0] for o in result["orders"]]
    assert len(coids) == len(set(coids))  # no duplicate order
    assert result["orders"] == baseline["orders"]  # same orders, same outcomes
    assert result["fills"] == baseline["fills"]  # no lost (or extra) fill
    assert result["live_stops"] == baseline["live_stops"]  # one stop, at the right level
    assert len(result["live_stops"]) <= 1
    assert result["pnl"] == baseline["pnl"]
    assert result["balances"] == baseline["balances"]


# A wild market (volatility 8): stops gapped through and replaced by exits.
WILD = 8.0


@pytest.fixture(scope="module")
def wild_baseline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    proc = run(tmp_path_factory.mktemp("wild"), volatility=WILD)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["exits"] >= 2  # the path must exercise the exits
    return result


@pytest.mark.parametrize(
    "kill", [f"place-exit:{w}:{n}" for w in ("before", "after") for n in (1, 2)]
)
def test_sigkill_around_an_exit_then_restart_matches_an_uninterrupted_run(
    tmp_path, wild_baseline, kill
):
    crashed = run(tmp_path, kill, WILD)
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)
    resumed = run(tmp_path, volatility=WILD)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    coids = [o[0] for o in result["orders"]]
    assert len(coids) == len(set(coids))
    for key in ("orders", "fills", "live_stops", "pnl", "balances"):
        assert result[key] == wild_baseline[key], key
