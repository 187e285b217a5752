"""A pair's step: one event and, in order, every outcome it leads to. Kept apart from
the routing because recovery, polls and the feed all take steps the same way: the risk
limits learn every report, the run's figures count commands, and watchers see each step."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping

from tradekit.core.events import Event
from tradekit.core.risk import PortfolioRisk
from tradekit.engine._async.driver import AsyncPairDriver, StepResult
from tradekit.engine.health import PairHealth
from tradekit.engine.stats import PortfolioStats
from tradekit.store.sqlite import Store

__all__ = ["Steps"]

Watcher = Callable[[str, StepResult], None]


class Steps:
    """Every pair's steps, and who watches them."""

    def __init__(
        self,
        drivers: Mapping[str, AsyncPairDriver],
        risk: PortfolioRisk,
        health: Mapping[str, PairHealth],
        stats: PortfolioStats,
        store: Store,
    ) -> None:
        self.drivers = drivers
        self.risk = risk
        self.health = health
        self.stats = stats
        self.store = store
        self.watchers: list[Watcher] = []

    def watch(self, callback: Watcher) -> Callable[[], None]:
        """See `Portfolio.watch`."""
        self.watchers.append(callback)

        def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self.watchers.remove(callback)

        return unwatch

    def _tell(self, pid: str, result: StepResult) -> None:
        for callback in list(self.watchers):
            try:
                callback(pid, result)
            except Exception as exc:
                self.watchers.remove(callback)
                with contextlib.suppress(Exception):
                    self.store.note(
                        pid, f"a watcher failed and was dropped: {exc!r}", time.time_ns()
                    )

    async def process(self, pid: str, ev: Event, received: float | None = None) -> None:
        """One event and, in order, every outcome it leads to."""
        driver = self.drivers[pid]
        pending: deque[Event] = deque([ev])
        first = True
        settled = False
        deciding = time.perf_counter() if received is not None else 0.0
        while pending:
            result: StepResult = await driver.process(pending.popleft())
            if self.watchers:
                self._tell(pid, result)
            if result.commands:
                self.stats.commands += len(result.commands)
                if first and received is not None:
                    self.stats.latencies_ms.append((time.perf_counter() - received) * 1000)
                    self.stats.decision_waits_ms.append((deciding - received) * 1000)
            first = False
            for report in result.reports:
                self.risk.observe(report)
            pending.extendleft(reversed(result.outcomes))  # depth first, as every loop
            if not pending and driver.unsettled and not settled and not self.health[pid].degraded:
                # an order left in doubt (its outcomes applied first): ask once now; if
                # the exchange still does not answer, the back-off decides when again
                settled = True
                pending.extend(await driver.settle())
