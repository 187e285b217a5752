"""Drivers: they perform the core's commands and feed back events; they hold no rules."""

from tradekit.engine.execution import AsyncExecutionEngine, ExecutionEngine

__all__ = ["AsyncExecutionEngine", "ExecutionEngine"]
