"""The execution engines of one pair: `ExecutionEngine` (sync, generated) and
`AsyncExecutionEngine` (its async source, `tradekit/engine/_async/loop.py`).

`step()` processes exactly one event, `run(ticks=, until_ts=)` many; see the source
module for the loop and the recovery it performs. Many pairs: `tradekit.engine.portfolio`.
"""

from tradekit.engine._async.loop import AsyncExecutionEngine
from tradekit.engine._sync.driver import PairDriver, StepResult, fill_event
from tradekit.engine._sync.loop import ExecutionEngine

__all__ = ["AsyncExecutionEngine", "ExecutionEngine", "PairDriver", "StepResult", "fill_event"]
