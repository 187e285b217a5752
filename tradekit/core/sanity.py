"""Sanity guards in front of the trading rules: bad prints and oversized orders.

Two failures of real markets and real configs that the rules themselves cannot see:

- **A bad print.** One trade far from the market (a fat finger, a broken feed, a price of
  zero) would move the ratchet to a stop the market never supported, or open a position
  at an impossible price. `PrintFilter` keeps a reference price from recent trades; a
  print that is not positive, or further than `print_band_pct` from the reference, is
  ignored (reported as `PrintIgnored`) until independent evidence confirms it: prints
  that agree with it (within the band of each other) and together trade at least
  `confirm_value` (quote currency) over at least `confirm_after_ns` of market time, and
  are at least `confirm_trades` prints. Then the market really moved, and the reference
  follows it. A count alone is no evidence: three dust-sized prints in 25 ms are three
  prints of nothing.
- **An order no one meant.** `max_order_size` (base), `max_order_value` (quote) and
  `order_price_band_pct` (the limit's distance from the last trade) are checked before an
  entry is made; a refused entry is reported (`EntrySkipped`, with the limit named).
  Sells that reduce a position (stops, exits) are never held back by them: protection
  comes first.

Every guard is off when its setting is None (the core's default, so that a backtest on
candles sees every bar); the config of a live portfolio turns them on (see README).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tradekit.core.money import MONEY_CONTEXT, ZERO, plain, to_decimal


@dataclass(frozen=True, slots=True)
class SanityParams:
    print_band_pct: Decimal | None = None
    confirm_trades: int = 3
    confirm_value: Decimal | None = None  # quote traded by the suspects (None: any)
    confirm_after_ns: int = 0  # the suspects' span of market time, at least
    max_order_size: Decimal | None = None
    max_order_value: Decimal | None = None
    order_price_band_pct: Decimal | None = None

    def __post_init__(self) -> None:
        for name in (
            "print_band_pct",
            "confirm_value",
            "max_order_size",
            "max_order_value",
            "order_price_band_pct",
        ):
            value = getattr(self, name)
            if value is not None:
                value = to_decimal(value, name)
                if not value.is_finite() or value <= ZERO:
                    raise ValueError(f"{name} must be a positive number, got {value}")
                object.__setattr__(self, name, value)
        for name in ("print_band_pct", "order_price_band_pct"):
            value = getattr(self, name)
            if value is not None and value >= 1:
                raise ValueError(f"{name} must be below 1, got {value}")
        if type(self.confirm_trades) is not int or not 1 <= self.confirm_trades <= 1000:
            raise ValueError(
                f"confirm_trades must be an int in [1, 1000], got {self.confirm_trades!r}"
            )
        if type(self.confirm_after_ns) is not int or self.confirm_after_ns < 0:
            raise ValueError(
                f"confirm_after_ns must be a non-negative int, got {self.confirm_after_ns!r}"
            )

    def order_problem(self, size: Decimal, limit: Decimal, last: Decimal | None) -> str | None:
        """Why an entry of `size` at `limit` must not leave, or None."""
        ctx = MONEY_CONTEXT
        if self.max_order_size is not None and size > self.max_order_size:
            return f"size {plain(size)} is above max_order_size {plain(self.max_order_size)}"
        value = ctx.multiply(size, limit)
        if self.max_order_value is not None and value > self.max_order_value:
            return f"value {plain(value)} is above max_order_value {plain(self.max_order_value)}"
        band = self.order_price_band_pct
        if band is not None and last is not None and last > ZERO:
            distance = ctx.divide(abs(limit - last), last)
            if distance > band:
                return (
                    f"limit {plain(limit)} is {plain(round(distance * 100, 2))}% from the last "
                    f"trade {plain(last)} (order_price_band_pct {plain(band)})"
                )
        return None


class PrintFilter:
    """Which market prints the rules may see. See the module docstring."""

    __slots__ = (
        "_hi",
        "_ihi",
        "_ilo",
        "_lo",
        "after_ns",
        "band",
        "confirm",
        "min_value",
        "reference",
        "suspect_count",
        "suspect_first_ts",
        "suspect_hi",
        "suspect_lo",
        "suspect_value",
    )

    def __init__(
        self,
        band: Decimal | None,
        confirm: int,
        min_value: Decimal | None = None,
        after_ns: int = 0,
    ) -> None:
        self.band = band
        self.confirm = confirm
        self.min_value = min_value
        self.after_ns = after_ns
        self.reference: Decimal | None = None
        # the prints beyond the band that agree with each other, as running figures
        self.suspect_count = 0
        self.suspect_lo = self.suspect_hi = self.suspect_value = ZERO
        self.suspect_first_ts = 0
        self._lo = self._hi = ZERO  # the band around the reference, kept ready
        self._ilo = self._ihi = ZERO  # half of it: within, the reference need not move

    @classmethod
    def of(cls, params: SanityParams) -> PrintFilter:
        return cls(
            params.print_band_pct,
            params.confirm_trades,
            params.confirm_value,
            params.confirm_after_ns,
        )

    def check(self, price: Decimal, size: Decimal | None = None, ts: int = 0) -> str | None:
        """None when `price` may be used; else why it is ignored. `size` and `ts` are the
        print's evidence (a print without a size adds no traded value)."""
        if price <= ZERO:
            return f"a print at {plain(price)} (not positive)"
        if self.band is None:
            return None
        ref = self.reference
        if ref is None or self._lo <= price <= self._hi:
            if self.suspect_count:
                self.suspect_count = 0
            if ref is None or not self._ilo <= price <= self._ihi:
                self._center(price)  # follow the market, not on every tick
            return None
        ctx = MONEY_CONTEXT
        value = ZERO
        if self.min_value is not None and size is not None:
            if type(size) is not Decimal:
                size = to_decimal(size, "MarketTrade.size")
            value = ctx.multiply(price, max(size, ZERO))
        lo, hi = min(self.suspect_lo, price), max(self.suspect_hi, price)
        if self.suspect_count and hi <= ctx.multiply(lo, 1 + self.band):
            self.suspect_count += 1  # agrees with the suspects before it
            self.suspect_lo, self.suspect_hi = lo, hi
            self.suspect_value = ctx.add(self.suspect_value, value)
        else:  # the first suspect, or one the others do not agree with: start again
            self.suspect_count = 1
            self.suspect_lo = self.suspect_hi = price
            self.suspect_value = value
            self.suspect_first_ts = ts
        if self._confirmed(ts):
            self.suspect_count = 0
            self._center(price)  # confirmed: the market did move
            return None
        return (
            f"a print at {plain(price)}, beyond {plain(self.band * 100)}% of recent trades "
            f"({plain(ref)}): ignored until {self._evidence()} confirm it"
        )

    def _confirmed(self, ts: int) -> bool:
        if self.suspect_count < self.confirm:
            return False
        if self.min_value is not None and self.suspect_value < self.min_value:
            return False
        return ts - self.suspect_first_ts >= self.after_ns

    def _evidence(self) -> str:
        need = [f"{self.confirm} trades"]
        if self.min_value is not None:
            need.append(f"worth {plain(self.min_value)} in all")
        if self.after_ns:
            need.append(f"over {plain(Decimal(self.after_ns) / 10**9)} s")
        return " ".join(need)

    def quiet_range(self) -> tuple[Decimal, Decimal | None] | None:
        """(low, high): every print strictly between them is used and changes nothing
        here (high None: no upper bound); None when the next print may change the
        filter's state (suspects waiting, or no reference yet)."""
        if self.band is None:
            return (ZERO, None)
        if self.reference is None or self.suspect_count:
            return None
        return (self._ilo, self._ihi)

    def _center(self, price: Decimal) -> None:
        assert self.band is not None
        ctx = MONEY_CONTEXT
        self.reference = price
        self._lo = ctx.multiply(price, 1 - self.band)
        self._hi = ctx.multiply(price, 1 + self.band)
        half = self.band / 2
        self._ilo = ctx.multiply(price, 1 - half)
        self._ihi = ctx.multiply(price, 1 + half)

    def snapshot(self) -> dict[str, Any]:
        return {
            "reference": None if self.reference is None else str(self.reference),
            "suspects": {
                "count": self.suspect_count,
                "lo": str(self.suspect_lo),
                "hi": str(self.suspect_hi),
                "value": str(self.suspect_value),
                "first_ts": self.suspect_first_ts,
            },
        }

    def restore(self, d: dict[str, Any]) -> None:
        ref = d.get("reference")
        suspects = d.get("suspects") or {}
        if isinstance(suspects, list):  # before the evidence: prices only, start again
            suspects = {}
        self.suspect_count = int(suspects.get("count", 0))
        self.suspect_lo = Decimal(str(suspects.get("lo", "0")))
        self.suspect_hi = Decimal(str(suspects.get("hi", "0")))
        self.suspect_value = Decimal(str(suspects.get("value", "0")))
        self.suspect_first_ts = int(suspects.get("first_ts", 0))
        if ref is not None and self.band is not None:
            self._center(Decimal(str(ref)))
