"""check(): the reference engine's journal, and the first step a changed loop parts from it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradekit.exchange.types import Fill
from tradekit.teaching import (
    Journal,
    TrailingStopLoop,
    check,
    check_gap_seed,
    reference_run,
    stop_limit_missed,
    student_seed,
)


class StopMovedDown(TrailingStopLoop):
    def should_move(self, candidate: Decimal) -> bool:
        return self.trigger is None or candidate != self.trigger


class PlacedBeforeCancel(TrailingStopLoop):
    def move_stop(self, trigger: Decimal) -> None:
        old = self.stop_id
        self.place_stop(trigger)
        if old is not None:
            self.exchange.cancel_order(old)


class BookedTwice(TrailingStopLoop):
    def book(self, fill: Fill) -> None:
        super().book(fill)
        if fill.order_id == self.entry_id:
            self.held += fill.size


SEEDS = [None, student_seed(0, "alice", "bug-hunt"), student_seed(0, "bob", "bug-hunt")]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_loop_as_written_equals_the_reference_engine(seed: int | None) -> None:
    run = TrailingStopLoop("calm-trend", seed).run()
    assert len(run.of("place_stop")) > 1, "the stop moved at least once"
    result = check("bug-hunt", run, seed)
    assert result.ok, result.message


@pytest.mark.parametrize("seed", SEEDS)
def test_each_bug_is_explained_in_words(seed: int | None) -> None:
    down = check("bug-hunt", StopMovedDown("calm-trend", seed).run(), seed)
    assert not down and "the stop was moved down, from" in down.message
    early = check("bug-hunt", PlacedBeforeCancel("calm-trend", seed).run(), seed)
    assert not early
    assert "a new stop was placed before the cancel of the old one was confirmed" in early.message
    twice = check("bug-hunt", BookedTwice("calm-trend", seed).run(), seed)
    assert not twice and "a fill was booked twice" in twice.message
    # the message starts with the step (the market trade's index) where the runs part
    for r in (down, early, twice):
        assert r.message.startswith(f"step {r.step}:")


def test_the_first_difference_is_the_earliest_one() -> None:
    reference = reference_run("calm-trend")
    early = PlacedBeforeCancel("calm-trend").run()
    first_move = reference.of("cancel")[0].tick
    assert check("bug-hunt", early).step == first_move


def test_a_journal_round_trips_through_a_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = TrailingStopLoop("calm-trend").run()
    run.save(tmp_path / "run.jsonl")
    assert Journal.read(tmp_path / "run.jsonl") == run
    (tmp_path / "bad.jsonl").write_text('{"tick": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not a journal step"):
        Journal.read(tmp_path / "bad.jsonl")


def test_a_short_run_is_told_where_it_stopped() -> None:
    full = TrailingStopLoop("calm-trend").run()
    short = Journal(full.steps[:5])
    result = check("ratchet", short)
    assert not result and "the run stopped early" in result.message


def test_the_gap_seed_check_tells_a_filled_stop_from_a_missed_one() -> None:
    assert check_gap_seed(0) is None
    assert stop_limit_missed(reference_run("gap-through", 0)) is not None
    why = check_gap_seed(2)
    assert why is not None and "seed 2: the stop filled at step" in why
    assert check_gap_seed(-1) == "the seed must be a whole number >= 0, got -1"
