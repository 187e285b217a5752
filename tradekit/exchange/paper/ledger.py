"""Balances and holds: every movement of money, exact to the last digit.

- Fees: `fee = price x size x rate` (maker or taker rate) kept EXACT, unrounded (the
  ledger arithmetic runs in `EXACT_CONTEXT`, 60 digits that raise on any rounding), so
  that holds and balances reconcile to the last digit. Coinbase reports commissions with
  many decimals too. A buy pays value + fee in quote; a sell receives value - fee.
- Holds: an open buy holds `remaining x limit x (1 + max(maker, taker))` in quote (the
  worst-case fee); an open sell holds its remaining base size. A fill draws its cost
  from the hold, a cancel or the last fill releases the rest. Funds on hold cannot be
  used again: a second stop on held base is refused with `INSUFFICIENT_FUND` (which is
  why stops are moved cancel-then-place).

Every method here changes wallets and the order's `hold` only, and must be called in
`EXACT_CONTEXT`; the order's own figures (filled size, fees, status) are the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from tradekit.core.money import EXACT_CONTEXT, ONE, ZERO, ProductSpec
from tradekit.core.orders import OrderSide
from tradekit.exchange.paper.orders import PaperOrder
from tradekit.exchange.types import Balance, Fill


class Wallet:
    __slots__ = ("available", "hold")

    def __init__(self, available: Decimal) -> None:
        self.available = available
        self.hold = ZERO


class Ledger:
    """Every currency's wallet, and the rules that move funds between them."""

    __slots__ = ("hold_rate", "wallets")

    def __init__(
        self,
        specs: Iterable[ProductSpec],
        balances: Iterable[tuple[str, Decimal]],
        hold_rate: Decimal,
    ) -> None:
        self.hold_rate = hold_rate
        self.wallets: dict[str, Wallet] = {}
        for spec in specs:
            for currency in (spec.base_currency, spec.quote_currency):
                self.wallets.setdefault(currency, Wallet(ZERO))
        for currency, amount in balances:
            self.wallets[currency] = Wallet(amount)

    def hold_for(self, side: OrderSide, size: Decimal, limit: Decimal) -> Decimal:
        """What an open order of `size` at `limit` holds (quote for a buy, base for a sell)."""
        if side is OrderSide.BUY:
            ctx = EXACT_CONTEXT  # exact whatever the caller's context
            return ctx.multiply(ctx.multiply(size, limit), ctx.add(ONE, self.hold_rate))
        return size

    @staticmethod
    def currency(spec: ProductSpec, side: OrderSide) -> str:
        """The currency an order of `side` holds."""
        return spec.quote_currency if side is OrderSide.BUY else spec.base_currency

    def available(self, currency: str) -> Decimal:
        return self.wallets[currency].available

    def _move(self, wallet: Wallet, amount: Decimal) -> None:
        """Move `amount` from available to hold (negative: back), exactly."""
        wallet.available = EXACT_CONTEXT.subtract(wallet.available, amount)
        wallet.hold = EXACT_CONTEXT.add(wallet.hold, amount)

    def reserve(self, o: PaperOrder, spec: ProductSpec) -> None:
        """A new order holds its funds."""
        o.hold = self.hold_for(o.side, o.remaining, o.limit_price)
        self._move(self.wallets[self.currency(spec, o.side)], o.hold)

    def release(self, o: PaperOrder, spec: ProductSpec) -> None:
        """A cancelled (or finished) order gives back what it still holds."""
        self._move(self.wallets[self.currency(spec, o.side)], -o.hold)
        o.hold = ZERO

    def resize(self, o: PaperOrder, spec: ProductSpec, remaining: Decimal, limit: Decimal) -> None:
        """An edited order holds for its new remaining size and limit."""
        new_hold = self.hold_for(o.side, remaining, limit)
        self._move(
            self.wallets[self.currency(spec, o.side)], EXACT_CONTEXT.subtract(new_hold, o.hold)
        )
        o.hold = new_hold

    def settle(self, o: PaperOrder, spec: ProductSpec, f: Fill) -> None:
        """A fill: its cost from the hold, its proceeds to available (after the order's
        filled size has been increased by the fill)."""
        base = self.wallets[spec.base_currency]
        quote = self.wallets[spec.quote_currency]
        value = f.price * f.size
        if o.side is OrderSide.BUY:
            new_hold = self.hold_for(o.side, o.remaining, o.limit_price)
            release = o.hold - new_hold
            quote.hold -= release
            quote.available += release - value - f.commission
            base.available += f.size
        else:
            new_hold = o.hold - f.size
            base.hold -= f.size
            quote.available += value - f.commission
        o.hold = new_hold

    def balances(self) -> dict[str, Balance]:
        return {
            currency: Balance(currency, w.available, w.hold)
            for currency, w in sorted(self.wallets.items())
        }
