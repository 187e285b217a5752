"""The exercises: which scenario each one runs, and the checks that are not journal walks.

Notebooks under `notebooks/exercises/` name an exercise and call `check` (or one of the
checks here) in their hidden test cells; the grader needs nothing from the notebook but
the student's function and their seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from tradekit.teaching.journal import Journal, reference_run
from tradekit.teaching.scenario import load

__all__ = ["EXERCISES", "Exercise", "get", "stop_limit_missed"]


@dataclass(frozen=True, slots=True)
class Exercise:
    name: str
    scenario: str
    summary: str


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise("ratchet", "calm-trend", "fill in the ratchet's candidate stop price"),
        Exercise("bug-hunt", "calm-trend", "find the three planted bugs in a trailing loop"),
        Exercise("gap-seed", "gap-through", "find a seed where a stop-limit fails to fill"),
        Exercise("port-async", "calm-trend", "port the sync loop to asyncio, same journal"),
    )
}


def get(name: str) -> Exercise:
    try:
        return EXERCISES[name]
    except KeyError:
        raise ValueError(f"no exercise {name!r} ({', '.join(EXERCISES)})") from None


def stop_limit_missed(journal: Journal) -> int | None:
    """The tick where a triggered stop-limit did not fill (the market gapped through its
    limit, and the engine had to cancel it and exit), or None."""
    stops = journal.of("place_stop")
    filled = {s.order for s in journal.of("fill")}
    exits = [s for s in journal.of("fill") if s.order == "exit"]
    if stops and exits and stops[-1].order not in filled:
        return exits[0].tick
    return None


def check_gap_seed(seed: int) -> str | None:
    """None when the gap scenario on `seed` shows a stop-limit that fails to fill; else why
    not, in words."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        return f"the seed must be a whole number >= 0, got {seed!r}"
    journal = reference_run(load("gap-through"), seed)
    if stop_limit_missed(journal) is not None:
        return None
    if not journal.of("place_stop"):
        return f"seed {seed}: the entry never filled, so no stop was ever placed"
    if journal.of("fill") and journal.of("fill")[-1].order.startswith("stop"):
        tick = journal.of("fill")[-1].tick
        return f"seed {seed}: the stop filled at step {tick} (its limit was reached)"
    return f"seed {seed}: no stop triggered (the price never fell to one)"
