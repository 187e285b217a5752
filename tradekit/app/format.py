"""Numbers for people: the one place a Decimal becomes text someone reads.

Prices at the product's quote increment, sizes at its base increment (trailing zeros
dropped, so a size reads the same everywhere), money to cents, fractions as
percentages, counts with the right plural, times in UTC to the second. Tables, chart
hovers, summaries and the CLI all use these; the exact values stay where machines read
them (`to_dataframe()`, JSON, the store), written with `tradekit.core.money.plain`.

Rounding here is for display only (half-even on the increment's last digit): nothing
computed from these strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from tradekit.core.money import MONEY_CONTEXT, ProductSpec, plain

__all__ = [
    "CENT",
    "count",
    "exact",
    "money",
    "pct",
    "price",
    "short_id",
    "signed_money",
    "size",
    "timestamp",
]

CENT = Decimal("0.01")
DASH = "–"


def exact(value: Decimal | None) -> str:
    """Every digit (for hovers that also show the rounded figure, and for files)."""
    return DASH if value is None else plain(value)


def _on(value: Decimal, step: Decimal) -> Decimal:
    with localcontext(MONEY_CONTEXT):
        return value.quantize(step.normalize() if step != 0 else CENT, ROUND_HALF_EVEN)


def price(value: Decimal | None, product: ProductSpec | None = None) -> str:
    """A price at the product's quote increment (cents without a product)."""
    if value is None:
        return DASH
    step = product.quote_increment if product is not None else CENT
    return f"{_on(value, step):,f}"


def size(value: Decimal | None, product: ProductSpec | None = None) -> str:
    """A size at the product's base increment, trailing zeros dropped (`0.05`)."""
    if value is None:
        return DASH
    if product is not None:
        value = _on(value, product.base_increment)
    text = plain(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def money(value: Decimal | None, currency: str = "") -> str:
    """An amount of quote currency to the cent: `-185.74 USD`, `1,204.50`."""
    if value is None:
        return DASH
    text = f"{_on(value, CENT):,f}"
    if text in ("-0.00",):
        text = "0.00"
    return f"{text} {currency}" if currency else text


def signed_money(value: Decimal | None, currency: str = "") -> str:
    """Money with an explicit sign (`+12.30`): P&L figures."""
    if value is None:
        return DASH
    text = money(value, currency)
    return text if text.startswith("-") or text.startswith("0.00") else "+" + text


def pct(fraction: Decimal | None, places: int = 2) -> str:
    """A fraction as a percentage: `0.015` -> `1.5%`, `0.00123` -> `0.12%`."""
    if fraction is None:
        return DASH
    with localcontext(MONEY_CONTEXT):
        value = (fraction * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    text = plain(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return f"{text}%"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 stop move`, `2 stop moves`, `1 entry`, `3 entries`."""
    if n == 1:
        return f"1 {noun}"
    if plural is None:
        if noun.endswith("y") and noun[-2:-1] not in tuple("aeiou"):
            plural = noun[:-1] + "ies"
        elif noun.endswith(("s", "x", "ch", "sh")):
            plural = noun + "es"
        else:
            plural = noun + "s"
    return f"{n:,} {plural}"


def timestamp(ts: int | None, *, seconds: bool = True) -> str:
    """Nanoseconds since the epoch as `2026-11-30 05:34:25 UTC` (to the second)."""
    if ts is None:
        return DASH
    dt = datetime.fromtimestamp(ts // 1_000_000_000, UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


def short_id(text: str | None, width: int = 16) -> str:
    """A long identifier cut in the middle (`run1-BTC-U…-17`); the full one elsewhere."""
    if not text:
        return ""
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 3
    tail = width - 1 - head
    return f"{text[:head]}…{text[-tail:]}"
