"""A pair's lane: its own queue of work, handled one item at a time, controls first.

The feed's reader puts `(event, received)` pairs or a `Signal` in the portfolio's inbox;
the router hands each event to its pair's lane, with the lane's own jobs (its recovery,
a poll) and controls (pause, resume, the kill switch) ahead of its events. `RunState` is
what the router, the lanes and the controls share of a run: its inbox, task and stop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from tradekit.core.events import Event, MarketTrade


class Signal(Enum):
    """The inbox's words that are not feed events."""

    END = "end"  # the feed's last word in the inbox
    WAKE = "wake"  # a control is waiting in `Controls.urgent`, or a lane failed


class Job(Enum):
    """A lane's items that are not feed events."""

    RECOVER = "recover"  # a lane's first job: reconcile its pair with the exchange
    POLL = "poll"  # a lane's REST safety net (and the retry of a degraded pair)


Received = tuple[Event, float | None]  # a feed event, and when it came (perf_counter)
LaneItem = Received | Job
InboxItem = tuple[Event, float] | Signal


@dataclass
class Control:
    """A pause, resume or halt for one pair; `done` is set once the pair handled it."""

    product_id: str
    event: Event
    done: asyncio.Future[None] | None = None


@dataclass(eq=False)
class Lane:
    """One pair's worker: its own queue (controls first), handled one item at a time."""

    pid: str
    items: deque[LaneItem] = field(default_factory=deque)
    urgent: deque[Control] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    waiter: asyncio.Future[None] | None = None  # set while the lane waits for work
    polling: bool = False  # a Job.POLL is queued
    handled: int = 0

    @property
    def idle(self) -> bool:
        return self.waiter is not None and not (self.items or self.urgent)

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(eq=False)
class RunState:
    """A portfolio's run as its parts see it: the inbox (from `start()`: controls are
    accepted), the run's task, and whether a stop has begun (`closing`: a clean stop is
    cancelling entries, no trade is decided on; `stopping`: the router ends)."""

    inbox: asyncio.Queue[InboxItem] | None = None
    task: asyncio.Task[None] | None = None
    stopping: bool = False
    closing: bool = False

    @property
    def running(self) -> bool:
        """Started and not ended: controls are accepted."""
        return self.task is not None and not self.task.done() and not self.stopping


def is_trade(item: LaneItem) -> bool:
    return type(item) is tuple and type(item[0]) is MarketTrade


_T = TypeVar("_T")


def quiet(future: asyncio.Future[_T]) -> asyncio.Future[_T]:
    """A control's future that nobody has to await: its error (the run stopped first)
    is not logged as never retrieved."""
    future.add_done_callback(lambda f: f.cancelled() or f.exception())
    return future
