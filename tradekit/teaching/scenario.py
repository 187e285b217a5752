"""The deck's scenarios with the rules that make each a backtest.

The scenario itself is market data (`tradekit.data.scenario`: the seeded path, its
events, the deck's files), so the classroom simulator can serve it; this subclass adds
what only the layers above the backtest can give: the pair's rules as a `BacktestSpec`
and `backtest()`. `load` and `deck` here return it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from tradekit.data import scenario as market
from tradekit.data.scenario import EVENT_KINDS, ScenarioEvent, student_seed

__all__ = ["EVENT_KINDS", "Scenario", "ScenarioEvent", "deck", "load", "student_seed"]


@dataclass(frozen=True, slots=True)
class Scenario(market.Scenario):
    """A deck scenario (`tradekit.data.scenario.Scenario`) that can be backtested."""

    def spec(self) -> Any:
        """The pair's rules as a `BacktestSpec`: buy once at the first trade (at its
        price), then trail; the core's plain protection and sanity rules, not the live
        config's guards (a print band, price caps): the lesson is the ratchet, and the
        exercises' loops are written without the guards."""
        from tradekit.backtest.spec import BacktestSpec, EntrySpec, default_product
        from tradekit.core.protection import ProtectionParams
        from tradekit.core.sanity import SanityParams

        return BacktestSpec(
            product=default_product(self.product),
            trail_pct=self.trail_pct,
            stop_limit_buffer_pct=self.stop_limit_buffer_pct,
            entry=EntrySpec(rule="once", offset_pct=Decimal(0)),
            max_entry_wait_ns=86_400 * 10**9,  # a day: "buy at the start" fills
            protection=ProtectionParams(),
            sanity=SanityParams(),
        )

    def backtest(self, **overrides: Any) -> Any:
        """`tradekit.backtest` on this scenario's trades (gaps included) and rules.

        Events that need a connection (drops, 429s, prints in flight) are played by
        `tradekit.teaching.reference_run`; a plain backtest has no connection to lose."""
        from tradekit.backtest.api import backtest

        return backtest(self.trades(), self.spec(), **overrides)


def load(name_or_path: str | Path | market.Scenario) -> Scenario:
    """A deck scenario by name (`gap-through`) or a scenario file by path."""
    return cast(Scenario, market.load(name_or_path, Scenario))


def deck() -> list[Scenario]:
    """Every scenario of the deck, by name."""
    return cast(list[Scenario], market.deck(Scenario))
