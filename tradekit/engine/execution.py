"""The sync ExecutionEngine (generated from `tradekit/engine/_async/loop.py`).

`step()` processes exactly one event, `run(ticks=, until_ts=)` many; see the source
module for the loop and the recovery it performs.
"""

from tradekit.engine._sync.driver import PairDriver, StepResult, fill_event
from tradekit.engine._sync.loop import ExecutionEngine

__all__ = ["ExecutionEngine", "PairDriver", "StepResult", "fill_event"]
