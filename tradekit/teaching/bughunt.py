"""The bug hunt's loop: `TrailingStopLoop` with three bugs planted, one per method.

- `should_move` lets the stop move down (any different candidate moves it);
- `move_stop` places the new stop before the old one's cancel is confirmed;
- `book` books the entry's fill twice.

`loop_with(**methods)` is the correct loop with some methods replaced: a check of one
method runs the loop with only that method changed, so each planted bug fails its own
check and no other.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradekit.exchange.types import Fill
from tradekit.teaching.loop import TrailingStopLoop

__all__ = ["METHODS", "PlantedLoop", "loop_with"]

METHODS = ("should_move", "move_stop", "book")


class PlantedLoop(TrailingStopLoop):
    """Three bugs: find them by running `check("bug-hunt", PlantedLoop(...).run())`."""

    def should_move(self, candidate: Decimal) -> bool:
        return self.trigger is None or candidate != self.trigger

    def move_stop(self, trigger: Decimal) -> None:
        old = self.stop_id
        self.place_stop(trigger)
        if old is not None:
            self.exchange.cancel_order(old)

    def book(self, fill: Fill) -> None:
        if fill.order_id == self.entry_id:
            self.entry_price = fill.price
            self.held += fill.size
            self.held += fill.size
        else:
            self.held -= fill.size


def loop_with(**methods: Any) -> type[TrailingStopLoop]:
    """The correct loop with the given methods (plain functions taking self) swapped in."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"no method {', '.join(sorted(unknown))} to replace ({METHODS})")
    return type("StudentLoop", (TrailingStopLoop,), dict(methods))
