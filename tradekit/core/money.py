"""Money and increments: exact `Decimal` values, rounded in a stated direction.

Every price, size and amount in tradekit is a `decimal.Decimal`. A float is refused at
the boundary with a `TypeError` instead of being converted, because `float("0.1")` is
not 0.1 and a silently wrong price is worse than a loud error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

ZERO = Decimal(0)
ONE = Decimal(1)

# The one decimal context for money, in the core, the paper exchange and the store: 60
# digits hold any price x size x fee rate of a real product exactly, and an operation
# that is invalid, divides by zero or overflows raises instead of yielding NaN/Infinity.
MONEY_CONTEXT = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
# Ledger arithmetic that must never round (holds, balances): the same, raising on Inexact.
EXACT_CONTEXT = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact]
)


def plain(value: Decimal) -> str:
    """A Decimal as its exact plain string, never exponent notation (`1E-8` -> `0.00000001`).

    The one Decimal -> text rule for journals, wire messages and stored values.
    """
    return format(value, "f")


def to_decimal(value: object, name: str) -> Decimal:
    """Return `value` as a Decimal; accept Decimal, int and numeric strings, refuse floats.

    `name` says which value was wrong in the error.
    """
    if type(value) is Decimal:
        return value
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a Decimal, got a bool ({value!r})")
    if isinstance(value, float):
        raise TypeError(
            f"{name}: floats are refused ({value!r}); pass a Decimal or a string such as "
            f"Decimal({str(value)!r})"
        )
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"{name}: {value!r} is not a decimal number") from None
        if not result.is_finite():
            raise ValueError(f"{name}: {value!r} is not a finite number")
        return result
    raise TypeError(f"{name}: expected a Decimal, got {type(value).__name__} ({value!r})")


def round_down(value: Decimal, increment: Decimal) -> Decimal:
    """The largest multiple of `increment` that is <= `value` (towards minus infinity).

    Computed in MONEY_CONTEXT whatever the caller's thread context is."""
    ctx = MONEY_CONTEXT
    steps = ctx.divide(value, increment).to_integral_value(rounding=ROUND_FLOOR, context=ctx)
    return ctx.multiply(steps, increment).quantize(increment, context=ctx)


def round_up(value: Decimal, increment: Decimal) -> Decimal:
    """The smallest multiple of `increment` that is >= `value` (towards plus infinity)."""
    ctx = MONEY_CONTEXT
    steps = ctx.divide(value, increment).to_integral_value(rounding=ROUND_CEILING, context=ctx)
    return ctx.multiply(steps, increment).quantize(increment, context=ctx)


def _power_of_ten(increment: Decimal) -> bool:
    """1, 0.01, 1E+1: a coefficient of exactly 1 (not 0.010, whose exponent is finer)."""
    sign, digits, exponent = increment.as_tuple()
    return sign == 0 and digits == (1,) and isinstance(exponent, int)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    """True when `value` is an exact multiple of `increment` (what the exchange accepts)."""
    return MONEY_CONTEXT.remainder(value, increment) == 0


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """What the exchange says about one product: the grid prices and sizes must sit on.

    Prices are rounded to `quote_increment`, sizes to `base_increment`; an order smaller
    than `base_min_size` is refused by the exchange, so the core never asks for one.
    """

    product_id: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal | None = None
    quote_min_size: Decimal = ZERO
    # rounding to a power-of-ten grid (0.01, 0.00000001) is one quantize (price_down)
    _quote_tens: bool = field(default=False, init=False, repr=False, compare=False)
    _base_tens: bool = field(default=False, init=False, repr=False, compare=False)
    _currencies: tuple[str, str] = field(default=("", ""), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("base_increment", "quote_increment", "base_min_size", "quote_min_size"):
            value = to_decimal(getattr(self, name), f"{self.product_id}.{name}")
            object.__setattr__(self, name, value)
        if self.base_max_size is not None:
            bmax = to_decimal(self.base_max_size, f"{self.product_id}.base_max_size")
            object.__setattr__(self, "base_max_size", bmax)
        if self.base_increment <= 0 or self.quote_increment <= 0:
            raise ValueError(f"{self.product_id}: increments must be positive")
        object.__setattr__(self, "_quote_tens", _power_of_ten(self.quote_increment))
        object.__setattr__(self, "_base_tens", _power_of_ten(self.base_increment))
        base, _, quote = self.product_id.partition("-")
        object.__setattr__(self, "_currencies", (base, quote))

    @property
    def base_currency(self) -> str:
        return self._currencies[0]

    @property
    def quote_currency(self) -> str:
        return self._currencies[1]

    def price_down(self, price: Decimal) -> Decimal:
        """Round a price down to the quote increment (safe side for a buy limit or a stop)."""
        if self._quote_tens:  # the same value and exponent as round_down's
            return price.quantize(self.quote_increment, ROUND_FLOOR, MONEY_CONTEXT)
        return round_down(price, self.quote_increment)

    def size_down(self, size: Decimal) -> Decimal:
        """Round a size down to the base increment (never sell or buy more than meant)."""
        if self._base_tens:
            return size.quantize(self.base_increment, ROUND_FLOOR, MONEY_CONTEXT)
        return round_down(size, self.base_increment)

    def size_problem(self, size: Decimal) -> str | None:
        """Why the exchange would refuse an order of `size`, or None if it is acceptable."""
        if not is_multiple(size, self.base_increment):
            return f"size {size} is not a multiple of base_increment {self.base_increment}"
        if size < self.base_min_size:
            return f"size {size} is below base_min_size {self.base_min_size}"
        if self.base_max_size is not None and size > self.base_max_size:
            return f"size {size} is above base_max_size {self.base_max_size}"
        return None

    def notional_problem(self, size: Decimal, price: Decimal) -> str | None:
        """Why an order of `size` at `price` is too small in quote terms, or None."""
        if self.quote_min_size and size * price < self.quote_min_size:
            return (
                f"value {plain(size * price)} (size {plain(size)} x price {plain(price)}) "
                f"is below quote_min_size {plain(self.quote_min_size)}"
            )
        return None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "product_id": self.product_id,
            "base_increment": str(self.base_increment),
            "quote_increment": str(self.quote_increment),
            "base_min_size": str(self.base_min_size),
            "base_max_size": None if self.base_max_size is None else str(self.base_max_size),
            "quote_min_size": str(self.quote_min_size),
        }

    @classmethod
    def from_dict(cls, d: dict[str, str | None]) -> ProductSpec:
        bmax = d.get("base_max_size")
        return cls(
            product_id=str(d["product_id"]),
            base_increment=Decimal(str(d["base_increment"])),
            quote_increment=Decimal(str(d["quote_increment"])),
            base_min_size=Decimal(str(d["base_min_size"])),
            base_max_size=None if bmax is None else Decimal(bmax),
            quote_min_size=Decimal(str(d.get("quote_min_size") or "0")),
        )
