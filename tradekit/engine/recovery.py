"""Recovery and exchange trouble: each pair's saved state and open orders reconciled
with the exchange before it trades, and every later piece of its exchange work guarded
the same way. Apart from the routing because it is the one place that decides what
trouble means: transient (degraded, stops left in place, tried again after a back-off)
or permanent (`ExchangeHalted`: the run ends, naming what it leaves in place)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from tradekit.core.risk import PortfolioRisk
from tradekit.engine._async.driver import AsyncPairDriver
from tradekit.engine.freshness import TradeAges
from tradekit.engine.health import ExchangeHalted, HealthBook
from tradekit.engine.status import left_in_place
from tradekit.engine.steps import Steps
from tradekit.exchange.types import TRANSIENT, ExchangeError

__all__ = ["Recovery"]


class Recovery:
    """Reconciles pairs with the exchange and guards their exchange work."""

    def __init__(
        self,
        drivers: Mapping[str, AsyncPairDriver],
        risk: PortfolioRisk,
        ages: TradeAges,
        health: HealthBook,
        steps: Steps,
    ) -> None:
        self.drivers = drivers
        self.risk = risk
        self.ages = ages
        self.health = health
        self.steps = steps

    def restore(self) -> None:
        """Every pair's saved decision state, under the portfolio's risk limits."""
        for pid, driver in self.drivers.items():
            driver.restore()
            self.risk.add(driver.decision)
            # across a restart: nothing older than what the last run already knew
            self.ages.seen(pid, driver.decision.last_ts)

    async def recover_pair(self, pid: str, retry: bool = False) -> None:
        driver = self.drivers[pid]

        async def reconcile() -> None:
            await driver.sync_ids()
            for ev in await driver.recovery_events():
                await self.steps.process(pid, ev)
            await driver.cancel_orphans()
            self.health.pairs[pid].recovered = True

        await self.guarded(pid, reconcile, retry)

    async def guarded(
        self, pid: str, work: Callable[[], Awaitable[None]], retry: bool = False
    ) -> bool:
        """Run one pair's exchange work. Transient trouble (a reply lost, rate limited,
        the exchange down; or orders left in doubt because it did not answer) degrades
        the pair: stops stay where they are, the error is journaled once per episode,
        and the pair is settled again after a bounded exponential back-off with jitter;
        the first full answer ends the episode. A permanent error ends the run
        (ExchangeHalted, naming what is left in place)."""
        driver = self.drivers[pid]
        try:
            await work()
        except TRANSIENT as exc:
            self.degrade(pid, str(exc)[:200] or type(exc).__name__, retry)
            driver.unsettled = True  # ask about every order in doubt again
            return False
        except ExchangeError as exc:
            raise ExchangeHalted(f"{exc}; {self.left_in_place()}") from exc
        if driver.unsettled:
            self.degrade(pid, "orders in doubt: the exchange did not answer", retry)
            return False
        self.health.answered(pid, driver.decision.last_ts)
        return True

    def degrade(self, pid: str, reason: str, retry: bool) -> None:
        self.health.degrade(pid, reason, retry, self.drivers[pid].decision.last_ts)

    def left_in_place(self) -> str:
        """What a stopped run leaves on the exchange, pair by pair, in one line."""
        return left_in_place(self.drivers)

    async def retry_degraded(self, pid: str) -> None:
        """A degraded pair whose back-off is over: try again (recovery first)."""
        health = self.health.pairs[pid]
        if not (health.degraded or not health.recovered) or time.monotonic() < health.retry_at:
            return
        if not health.recovered:
            await self.recover_pair(pid, retry=True)
            return
        driver = self.drivers[pid]

        async def settle() -> None:
            for ev in await driver.settle():
                await self.steps.process(pid, ev)

        await self.guarded(pid, settle, retry=True)
