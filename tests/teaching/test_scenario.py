"""The deck: every file loads, is deterministic, and its events do what they say."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradekit.cli import main
from tradekit.teaching import deck, load, reference_run, student_seed

NAMES = ["calm-trend", "gap-through", "rate-limit-burst", "stop-refused", "ws-drop"]


def test_the_deck_holds_the_five_scenarios() -> None:
    assert [s.name for s in deck()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_scenario_is_the_same_market_every_time(name: str) -> None:
    sc = load(name)
    assert sc.trades() == sc.trades()
    assert sc.with_seed(sc.seed + 1).trades() != sc.trades()
    assert len(sc.trades()) == sc.ticks


def test_the_gap_moves_every_later_price() -> None:
    sc = load("gap-through")
    gap = sc.event("gap")
    assert gap is not None and gap.pct == Decimal("-0.01")
    plain = list(sc.path())
    gapped = sc.trades()
    assert gapped[: gap.at] == plain[: gap.at]
    for before, after in zip(plain[gap.at :], gapped[gap.at :], strict=True):
        assert after.price == (before.price * Decimal("0.99")).quantize(Decimal("0.01"))


def test_the_print_in_flight_gets_a_stop_refused() -> None:
    journal = reference_run("stop-refused")
    refused = journal.of("refused")
    assert refused and refused[0].order.startswith("stop")
    prints = journal.of("print")
    assert prints and prints[0].tick >= 500 and refused[0].tick == prints[0].tick


def test_the_burst_answers_429_only_inside_its_window() -> None:
    sc = load("rate-limit-burst")
    burst = sc.event("rate_limit_burst")
    assert burst is not None
    hits = reference_run(sc).of("rate_limited")
    assert hits, "the deck seed trades during the burst"
    assert all(burst.at <= s.tick < burst.at + burst.ticks for s in hits)


def test_the_drop_hides_trades_from_the_engine_not_from_the_exchange() -> None:
    sc = load("ws-drop")
    drop = sc.event("ws_drop")
    assert drop is not None
    for seed in range(6):
        journal = reference_run(sc, seed)
        # the engine asks nothing while it hears nothing (fills may still happen)
        asked = [s for s in journal if s.action in ("place_stop", "cancel", "place_entry")]
        assert not [s for s in asked if drop.covers(s.tick)]


def test_a_scenario_backtests() -> None:
    result = load("calm-trend").backtest()
    assert result.trades or result.stops


def test_student_seeds_are_stable_and_differ() -> None:
    a = student_seed(0, "alice", "ratchet")
    assert a == student_seed(0, "alice", "ratchet")
    assert a != student_seed(0, "bob", "ratchet") != student_seed(0, "alice", "bug-hunt")


def test_a_bad_file_is_named_with_its_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'title = "x"\nsummary = "y"\nproduct = "BTC-USD"\nstart_price = "1"\n'
        'ticks = 10\nseed = 0\n[[events]]\nat = 3\nkind = "meteor"\n'
    )
    with pytest.raises(ValueError, match=r"bad.toml: events\[0\]: kind 'meteor'"):
        load(bad)
    bad.write_text(bad.read_text().replace('kind = "meteor"', 'kind = "gap"\npct = "-0.1"\n'))
    bad.write_text(bad.read_text().replace("at = 3", "at = 30"))
    with pytest.raises(ValueError, match="past the last tick"):
        load(bad)


def test_tradekit_scenarios_lists_the_deck(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == NAMES
    assert main(["scenarios", "gap-through"]) == 0
    assert "tick 700: a gap of -1.0%" in capsys.readouterr().out
    assert main(["scenarios", "nope"]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err
