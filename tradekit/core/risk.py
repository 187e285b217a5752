"""Portfolio risk limits, checked before any entry (pure: reads the pairs' state).

The portfolio gives each pair's `DecisionEngine` its `check` as `entry_gate`; an entry the
limits refuse is not placed, and the engine reports `EntrySkipped` with the reason, once
per distinct reason (not on every tick).

Exposure of a pair is what it could lose if everything went to zero: the cost of what it
holds (open size at the average entry price) plus what its working entry may still buy
(remaining size x limit). The daily loss limit counts realized P&L of positions closed
on the current UTC day (by the events' own timestamps, not a clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from tradekit.core.money import ZERO
from tradekit.core.reports import PositionClosed, Report

if TYPE_CHECKING:
    from tradekit.core.decision import DecisionEngine

DAY_NS = 86_400 * 10**9


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_open_positions: int | None = None  # pairs entering or holding at once
    max_quote_exposure: Decimal | None = None  # over all pairs
    max_quote_exposure_per_pair: Decimal | None = None
    daily_loss_limit: Decimal | None = None  # a positive amount of quote


class PortfolioRisk:
    """The limits, the pairs they watch, and today's realized P&L."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.engines: dict[str, DecisionEngine] = {}
        self.day = -1
        self.day_pnl = ZERO

    def add(self, engine: DecisionEngine) -> None:
        self.engines[engine.product_id] = engine
        engine.entry_gate = self.check

    def observe(self, report: Report) -> None:
        """Feed every report; closed positions count towards the day's P&L."""
        if isinstance(report, PositionClosed):
            day = report.ts // DAY_NS
            if day != self.day:
                self.day, self.day_pnl = day, ZERO
            self.day_pnl += report.realized_pnl

    @staticmethod
    def exposure(engine: DecisionEngine) -> Decimal:
        total = ZERO
        pos = engine.position
        if pos is not None and pos.filled_size:
            total += pos.cost * pos.open_size / pos.filled_size
        entry = engine.entry
        if entry is not None and entry.is_open:
            total += entry.remaining * entry.limit_price
        return total

    def check(self, product_id: str, size: Decimal, limit_price: Decimal, ts: int) -> str | None:
        """None when an entry of `size` at `limit_price` fits every limit, else why not."""
        lim = self.limits
        if lim.daily_loss_limit is not None and ts // DAY_NS == self.day:
            if self.day_pnl <= -lim.daily_loss_limit:
                return (
                    f"daily loss limit: realized P&L today {self.day_pnl} <= "
                    f"-{lim.daily_loss_limit}"
                )
        others = [e for pid, e in self.engines.items() if pid != product_id]
        if lim.max_open_positions is not None:
            busy = sum(1 for e in others if e.position is not None or e.entry is not None)
            if busy >= lim.max_open_positions:
                return f"max open positions: {busy} of {lim.max_open_positions} in use"
        notional = size * limit_price
        mine = self.engines.get(product_id)
        own = self.exposure(mine) if mine is not None else ZERO
        per_pair = lim.max_quote_exposure_per_pair
        if per_pair is not None and own + notional > per_pair:
            return f"max exposure per pair: {own + notional} > {per_pair}"
        if lim.max_quote_exposure is not None:
            total = own + notional + sum((self.exposure(e) for e in others), ZERO)
            if total > lim.max_quote_exposure:
                return f"max total exposure: {total} > {lim.max_quote_exposure}"
        return None
