"""`check(exercise, run)`: where a student's run first parts from the reference, in words.

The reference is the live `DecisionEngine` on the same scenario and seed
(`reference_run`). Both journals are walked step by step; the first step that differs is
explained by what it means for protection ("step 412: a new stop was placed before the
cancel of the old one was confirmed"), not only by what differs. A `CheckResult` is
truthy when the runs agree; `assert_ok()` raises `AssertionError` with the sentence,
which is what an nbgrader test cell shows the student.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradekit.teaching.exercises import Exercise, get
from tradekit.teaching.journal import Journal, Step, reference_run

__all__ = ["CheckResult", "check", "compare", "explain"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict: `ok`, and when not, the first step that differs and why."""

    exercise: str
    ok: bool
    step: int | None = None  # the tick where the runs part
    message: str = ""
    expected: Step | None = None
    got: Step | None = None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{self.exercise}: {'ok' if self.ok else self.message}"

    def assert_ok(self) -> None:
        if not self.ok:
            raise AssertionError(self.message)


def _stop_resting(steps: list[Step]) -> str | None:
    """The role of a stop still resting (placed, not cancelled or filled) after `steps`."""
    resting: list[str] = []
    for s in steps:
        if s.action == "place_stop":
            resting.append(s.order)
        elif s.action in ("cancel_confirmed", "fill", "refused") and s.order in resting:
            resting.remove(s.order)
    return resting[-1] if resting else None


def _last_trigger(steps: list[Step]) -> Decimal | None:
    placed = [s.price for s in steps if s.action == "place_stop" and s.price is not None]
    return placed[-1] if placed else None


def explain(index: int, expected: Step | None, got: Step | None, steps: list[Step]) -> str:
    """The first difference in words: what the student's run did there and why it matters.

    `steps` is the student's whole run; `index` the position of `got` in it."""
    before = steps[:index]
    tick = got.tick if got is not None else expected.tick if expected is not None else 0
    where = f"step {tick}"
    if got is None:
        assert expected is not None
        return f"{where}: the run stopped early; the reference went on to {expected.words()}"
    if expected is None:
        return f"{where}: the run did more than the reference: {got.words()}"
    if got.action == "cancel" and index + 2 < len(steps):
        after = steps[index + 2]  # cancel, its answer, then what replaces the stop
        last = _last_trigger(before)
        if after.action == "place_stop" and last is not None and after.price is not None:
            if after.price < last:
                return (
                    f"{where}: the stop was moved down, from {last} to {after.price} (a "
                    "trailing stop only ratchets up)"
                )
    if got.action == "place_stop" and expected.action == "place_stop":
        if got.size is not None and expected.size is not None and got.size > expected.size:
            return (
                f"{where}: the stop was sized {got.size} but the exchange filled "
                f"{expected.size}: a fill was booked twice"
            )
    if got.action == "place_stop":
        resting = _stop_resting(before)
        if resting is not None:
            return (
                f"{where}: a new stop was placed before the cancel of the old one was "
                f"confirmed ({resting} was still resting: two stops could sell the "
                "position twice)"
            )
        last = _last_trigger(before)
        if last is not None and got.price is not None and got.price < last:
            return (
                f"{where}: the stop was moved down, from {last} to {got.price} (a trailing "
                "stop only ratchets up)"
            )
        if expected.action == "place_stop" and expected.price is not None and got.price:
            return (
                f"{where}: the stop was placed at {got.price} (limit {got.limit}); the "
                f"reference placed it at {expected.price} (limit {expected.limit})"
            )
    if got.action == "booked" and expected.action == "booked":
        if got.size is not None and expected.size is not None and got.size > expected.size:
            return (
                f"{where}: the position was booked as {got.size} but the exchange filled "
                f"{expected.size}: a fill was booked twice"
            )
        return f"{where}: the position was booked as {got.size}; the exchange says {expected.size}"
    if got.tick != expected.tick:
        first = min(got, expected, key=lambda s: s.tick)
        who = "the run" if first is got else "the reference"
        other = "the reference" if first is got else "the run"
        return f"step {first.tick}: {who} did '{first.words()}', which {other} did not do then"
    return f"{where}: expected '{expected.words()}', the run did '{got.words()}'"


def compare(exercise: str, reference: Journal, run: Journal) -> CheckResult:
    """Walk both journals; the first step that differs, explained."""
    ref, got = reference.steps, run.steps
    for i in range(max(len(ref), len(got))):
        a = ref[i] if i < len(ref) else None
        b = got[i] if i < len(got) else None
        if a is not None and b is not None and a.key() == b.key():
            continue
        message = explain(i, a, b, got)
        tick = (b or a).tick if (b or a) is not None else None  # type: ignore[union-attr]
        return CheckResult(exercise, False, tick, message, a, b)
    return CheckResult(exercise, True)


def check(exercise: str | Exercise, run: Journal, seed: int | None = None) -> CheckResult:
    """Compare a student's `run` (its journal) with the reference engine on the exercise's
    scenario and seed (`seed`: the student's own, from `student_seed`)."""
    ex = get(exercise) if isinstance(exercise, str) else exercise
    reference = reference_run(ex.scenario, seed)
    return compare(ex.name, reference, run)
