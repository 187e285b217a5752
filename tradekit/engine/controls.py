"""The controls: pause, resume, pause all, resume all and the kill switch, journaled as
events of each pair. Apart from the routing because they are the user's, not the feed's:
each is queued at once, jumps every queue (a kill must not wait behind a backlog) and
returns a future that is done when its pair has handled it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal

from tradekit.core.events import TradingState, TradingStateChanged
from tradekit.engine._async.driver import AsyncPairDriver
from tradekit.engine.freshness import is_live
from tradekit.engine.lanes import Control, Lane, RunState, Signal, quiet

__all__ = ["Controls"]

_VERB = {TradingState.PAUSED: "pause", TradingState.ACTIVE: "resume", TradingState.HALTED: "halt"}


class Controls:
    """The controls of one portfolio's run; `urgent` holds those the router has not
    handed to their lanes yet."""

    def __init__(self, drivers: Mapping[str, AsyncPairDriver], run: RunState) -> None:
        self.drivers = drivers
        self.run = run
        self.urgent: deque[Control] = deque()

    # Each control is queued at once and returns a future that is done when the pair
    # has handled it: ignore it, or `await portfolio.pause("SOL-USD")` to wait for that.

    def pause(self, product_id: str) -> asyncio.Future[None]:
        return self.control(product_id, TradingState.PAUSED, "paused")

    def resume(self, product_id: str) -> asyncio.Future[None]:
        return self.control(product_id, TradingState.ACTIVE, "resumed")

    def kill(
        self, reason: str = "kill switch", flatten_offset_pct: Decimal | None = None
    ) -> asyncio.Future[list[None]]:
        """Cancel every working entry and allow no new one. Stops stay in place, unless
        `flatten_offset_pct` is given: then each position is sold with a limit order that
        far below the last price (its stop cancelled first)."""
        self.check_running("kill switch")
        return quiet(
            asyncio.gather(
                *(
                    self.control(pid, TradingState.HALTED, reason, flatten_offset_pct)
                    for pid in self.drivers
                )
            )
        )

    def pause_all(self) -> asyncio.Future[list[None]]:
        self.check_running("pause all")
        return quiet(asyncio.gather(*(self.pause(pid) for pid in self.drivers)))

    def resume_all(self) -> asyncio.Future[list[None]]:
        self.check_running("resume all")
        return quiet(asyncio.gather(*(self.resume(pid) for pid in self.drivers)))

    def check_running(self, what: str) -> None:
        if self.run.inbox is None or not self.run.running:
            why = "was never started" if self.run.task is None else "has stopped"
            raise RuntimeError(
                f"cannot {what}: the portfolio {why}, so nothing would act on it "
                "(start a new run to trade again)"
            )

    def control(
        self,
        product_id: str,
        state: TradingState,
        reason: str,
        flatten_offset_pct: Decimal | None = None,
    ) -> asyncio.Future[None]:
        if product_id not in self.drivers:
            known = ", ".join(self.drivers)
            raise KeyError(f"no pair {product_id!r} in this portfolio (it has {known})")
        self.check_running(f"{_VERB[state]} {product_id}")
        inbox = self.run.inbox
        assert inbox is not None
        ev = TradingStateChanged(state, self.control_ts(product_id), reason, flatten_offset_pct)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Controls jump the queue: handled before any feed event still waiting (a kill
        # must not wait behind a backlog); the marker only wakes an idle router.
        quiet(done)
        self.urgent.append(Control(product_id, ev, done))
        with contextlib.suppress(asyncio.QueueFull):
            inbox.put_nowait(Signal.WAKE)
        return done

    def control_ts(self, product_id: str) -> int:
        """A control's time, when it is handled: the wall clock on a live market, the
        pair's market time on historical data (a replay), so that a journal does not mix
        the two clocks (before a pair's first trade, only the wall clock is known)."""
        now = time.time_ns()
        last = self.drivers[product_id].decision.last_ts
        if last and not is_live(last, now):
            return last
        return now

    def abandon(self, lanes: Iterable[Lane]) -> None:
        """The run ended: controls never handled tell their waiters so."""
        for queue in (self.urgent, *(lane.urgent for lane in lanes)):
            while queue:
                c = queue.popleft()
                if c.done is not None and not c.done.done():
                    c.done.set_exception(RuntimeError("the portfolio stopped before this"))
