"""Teaching with tradekit: a deck of seeded scenarios, exercises whose checks explain.

`check(exercise, run)` compares a student's run with the reference engine on the same
scenario and seed and says, in words, the first step where they differ.
"""

from tradekit.teaching.check import CheckResult, check, compare
from tradekit.teaching.exercises import EXERCISES, check_gap_seed, stop_limit_missed
from tradekit.teaching.journal import Journal, ScenarioExchange, Step, reference_run
from tradekit.teaching.loop import AsyncScenarioExchange, TrailingStopLoop
from tradekit.teaching.scenario import Scenario, deck, load, student_seed

__all__ = [
    "EXERCISES",
    "AsyncScenarioExchange",
    "CheckResult",
    "Journal",
    "Scenario",
    "ScenarioExchange",
    "Step",
    "TrailingStopLoop",
    "check",
    "check_gap_seed",
    "compare",
    "deck",
    "load",
    "reference_run",
    "stop_limit_missed",
    "student_seed",
]
