"""One long position and its ratchet-only trailing stop.

The rule (DESIGN.md, "Trading rules"):

    highest   = max(highest, last_price)
    candidate = round_down(highest * (1 - trail_pct), quote_increment)
    the stop moves only when candidate > trigger * (1 + min_ratchet)
    limit     = round_down(trigger * (1 - stop_limit_buffer_pct), quote_increment)

The candidate is rounded *before* the comparison, so a move always changes the trigger
on the exchange's price grid (no cancel/replace for a change the exchange cannot see).
The stop never moves down: a lower candidate is ignored, whatever the price does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradekit.core.money import MONEY_CONTEXT, ONE, ZERO, ProductSpec, to_decimal


@dataclass(frozen=True, slots=True)
class TrailParams:
    """How a stop trails: distance, minimum step and the stop-limit buffer (fractions)."""

    trail_pct: Decimal
    stop_limit_buffer_pct: Decimal
    min_ratchet: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("trail_pct", "stop_limit_buffer_pct", "min_ratchet"):
            object.__setattr__(self, name, to_decimal(getattr(self, name), name))
        if not ZERO < self.trail_pct < ONE:
            raise ValueError(f"trail_pct must be between 0 and 1, got {self.trail_pct}")
        if not ZERO <= self.stop_limit_buffer_pct < ONE:
            raise ValueError(
                f"stop_limit_buffer_pct must be in [0, 1), got {self.stop_limit_buffer_pct}"
            )
        if self.min_ratchet < ZERO:
            raise ValueError(f"min_ratchet must be >= 0, got {self.min_ratchet}")


class PositionState:
    """Entry, fills, highest price since entry and the stop the position *should* have.

    The stop here is the desired one; the decision engine makes the exchange's stop order
    match it. Totals are kept exactly (cost, proceeds, fees), averages are derived.
    """

    __slots__ = (
        "_keep",
        "_limit_factor",
        "_step",
        "cost",
        "entry_fees",
        "exit_fees",
        "filled_size",
        "highest",
        "params",
        "proceeds",
        "product",
        "sold_size",
        "stop_limit",
        "stop_trigger",
    )

    def __init__(self, product: ProductSpec, params: TrailParams) -> None:
        self.product = product
        self.params = params
        self._keep = ONE - params.trail_pct
        self._step = ONE + params.min_ratchet
        self._limit_factor = ONE - params.stop_limit_buffer_pct
        self.filled_size = ZERO
        self.sold_size = ZERO
        self.cost = ZERO
        self.proceeds = ZERO
        self.entry_fees = ZERO
        self.exit_fees = ZERO
        self.highest = ZERO
        self.stop_trigger: Decimal | None = None
        self.stop_limit: Decimal | None = None

    # -- the ratchet -------------------------------------------------------------------

    def ratchet(self, last_price: Decimal) -> bool:
        """Feed one trade price; return True when the stop moved (up, never down)."""
        if type(last_price) is not Decimal:
            to_decimal(last_price, "last_price")  # raises for floats and junk
            last_price = Decimal(last_price)  # int or str: exact
        if last_price <= self.highest:
            return False
        self.highest = last_price
        ctx = MONEY_CONTEXT  # explicit: exact whatever the caller's thread context
        candidate = self.product.price_down(ctx.multiply(last_price, self._keep))
        trigger = self.stop_trigger
        if candidate <= ZERO or (
            trigger is not None and candidate <= ctx.multiply(trigger, self._step)
        ):
            return False
        self.stop_trigger = candidate
        self.stop_limit = self.product.price_down(ctx.multiply(candidate, self._limit_factor))
        return True

    # -- fills -------------------------------------------------------------------------

    def add_buy(self, size: Decimal, price: Decimal, fee: Decimal) -> bool:
        """Record an entry fill; return True when the desired stop changed."""
        self.filled_size += size
        self.cost += size * price
        self.entry_fees += fee
        # The first fill starts the trail from the fill price; later ones can only raise it.
        return self.ratchet(price)

    def add_sell(self, size: Decimal, price: Decimal, fee: Decimal) -> None:
        """Record an exit fill."""
        self.sold_size += size
        self.proceeds += size * price
        self.exit_fees += fee

    # -- derived -----------------------------------------------------------------------

    @property
    def open_size(self) -> Decimal:
        return self.filled_size - self.sold_size

    @property
    def entry_price(self) -> Decimal | None:
        """Average entry price (None before the first fill)."""
        return self.cost / self.filled_size if self.filled_size else None

    @property
    def exit_price(self) -> Decimal | None:
        return self.proceeds / self.sold_size if self.sold_size else None

    @property
    def fees(self) -> Decimal:
        return self.entry_fees + self.exit_fees

    @property
    def realized_pnl(self) -> Decimal:
        """Quote P&L of what has been sold so far: proceeds less exit fees, less the cost
        and the entry fees of the part sold (prorated: a partial exit carries only its
        share of the entry's fees; once all is sold this is the whole trade's P&L)."""
        if not self.filled_size:
            return -self.fees
        share = self.sold_size / self.filled_size
        return self.proceeds - self.exit_fees - (self.cost + self.entry_fees) * share

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        """What the open size would add at `price` (before exit fees), less its share of
        the entry fees."""
        if not self.filled_size:
            return ZERO
        share = self.open_size / self.filled_size
        return self.open_size * price - (self.cost + self.entry_fees) * share

    def to_dict(self) -> dict[str, Any]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "filled_size": str(self.filled_size),
            "sold_size": str(self.sold_size),
            "cost": str(self.cost),
            "proceeds": str(self.proceeds),
            "fees": str(self.fees),
            "entry_fees": str(self.entry_fees),
            "exit_fees": str(self.exit_fees),
            "highest": str(self.highest),
            "stop_trigger": s(self.stop_trigger),
            "stop_limit": s(self.stop_limit),
        }

    @classmethod
    def from_dict(
        cls, product: ProductSpec, params: TrailParams, d: dict[str, Any]
    ) -> PositionState:
        pos = cls(product, params)
        for name in ("filled_size", "sold_size", "cost", "proceeds", "highest"):
            setattr(pos, name, Decimal(d[name]))
        if "entry_fees" in d:
            pos.entry_fees, pos.exit_fees = Decimal(d["entry_fees"]), Decimal(d["exit_fees"])
        else:  # saved before the fees were split: all of them count as the entry's
            pos.entry_fees = Decimal(d["fees"])
        for name in ("stop_trigger", "stop_limit"):
            setattr(pos, name, None if d[name] is None else Decimal(d[name]))
        return pos

    def __repr__(self) -> str:
        return (
            f"PositionState({self.product.product_id} open={self.open_size} "
            f"entry={self.entry_price} highest={self.highest} "
            f"stop={self.stop_trigger}/{self.stop_limit})"
        )
