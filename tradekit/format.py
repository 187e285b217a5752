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

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from tradekit.core.money import MONEY_CONTEXT, ProductSpec, plain

__all__ = [
    "CENT",
    "Facts",
    "count",
    "exact",
    "for_people",
    "kind_of",
    "money",
    "number",
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


def short_id(text: str | None, width: int = 24) -> str:
    """An id for a table cell: our own readable ids whole (`phase1-BTC-USD-34`), an
    exchange's UUID by its first block (`601c6bc9…`), anything else longer than `width`
    cut in the middle; the full id goes on the hover."""
    if not text:
        return ""
    if _UUID.fullmatch(text):
        return f"{text[:8]}…"
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 3
    tail = width - 1 - head
    return f"{text[:head]}…{text[-tail:]}"


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# -- a value by its name: how a figure called `name` reads ------------------------------

_MONEY_WORDS = ("pnl", "p&l", "fee", "equity", "balance", "budget", "value", "loss", "quote_")
_PCT_WORDS = ("pct", "return", "drawdown", "win_rate", "ratchet", "distance", "offset")
_PRICE_WORDS = ("price", "trigger", "limit", "highest", "stop", "last", "open", "high", "low")
_SIZE_WORDS = ("size", "volume", "held")
# a backtest's statistics that are fractions or money without a telling word
_PCT_NAMES = ("exposure", "cagr", "best_trade", "worst_trade", "avg_trade", "risk_free")
_MONEY_NAMES = ("expectancy",)
_PLAIN_INTS = ("id", "seq", "seed", "cursor", "tick", "bar", "year")


def kind_of(name: str) -> str | None:
    """How a figure named `name` reads: "money", "pct", "price", "size", "ts" or None.

    By words in the name, money first (`daily_loss_limit` is money, not a price)."""
    n = name.lower().replace(" ", "_")
    if n.endswith("_ts") or n == "ts":
        return "ts"
    if n in _PCT_NAMES:  # exposure: the fraction of the time a position was held
        return "pct"
    if n in _MONEY_NAMES or any(w in n for w in _MONEY_WORDS):
        return "money"
    if any(w in n for w in _PCT_WORDS):
        return "pct"
    if any(w in n for w in _SIZE_WORDS):
        return "size"
    if any(w in n for w in _PRICE_WORDS):
        return "price"
    return None


def number(value: Decimal) -> str:
    """A Decimal of no known kind: grouped, no padding zeros, at most 8 decimals."""
    with localcontext(MONEY_CONTEXT):
        if value.as_tuple().exponent < -8:  # type: ignore[operator]
            value = value.quantize(Decimal("1e-8"), ROUND_HALF_EVEN)
        value = value.normalize()
    text = f"{value:,f}"
    return "0" if text == "-0" else text


def for_people(name: str, value: object, product: ProductSpec | None = None) -> str:
    """One figure as a person reads it, by its name (see `kind_of`): Decimals and floats
    rounded to the product's increments, cents or percentages; times in UTC."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    kind = kind_of(name)
    if isinstance(value, Decimal):
        if kind == "money":
            return money(value)
        if kind == "pct":
            return pct(value)
        if kind == "price":
            return price(value, product)
        if kind == "size":
            return size(value, product)
        return number(value)
    if isinstance(value, float):
        if kind == "pct":
            return pct(Decimal(repr(value)))
        if kind == "money":
            return money(Decimal(repr(value)))
        return f"{value:,.6g}"
    if isinstance(value, int):
        if kind == "ts" and value > 10**15:
            return timestamp(value)
        n = name.lower()
        if any(n == w or n.endswith("_" + w) for w in _PLAIN_INTS):
            return str(value)
        return f"{value:,}"
    enum_value = getattr(value, "value", None)
    if isinstance(enum_value, str):
        return enum_value
    return str(value)


class Facts(dict[str, Any]):
    """A dict of named figures (a summary, statistics) that a notebook shows as a small
    table for people (`for_people`, nested dicts as nested tables); the dict itself,
    `repr` and equality are unchanged, so the exact Decimals stay one key away.
    `product` gives prices and sizes their increments (else the `product_id` key's
    default product)."""

    def __init__(self, *args: Any, product: ProductSpec | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.product = product

    def _product(self) -> ProductSpec | None:
        if self.product is not None:
            return self.product
        pid = self.get("product_id")
        if isinstance(pid, str):
            from tradekit.exchange.products import DEFAULT_PRODUCTS

            return DEFAULT_PRODUCTS.get(pid)
        return None

    def _repr_html_(self) -> str:
        return facts_html(self, self._product())

    def text(self) -> str:
        """The same, as `name: value` lines for a terminal."""
        product = self._product()
        return "\n".join(
            f"{k}: {facts_text(v, product) if isinstance(v, dict) else for_people(k, v, product)}"
            for k, v in self.items()
        )


def facts_text(values: dict[str, Any], product: ProductSpec | None = None) -> str:
    return ", ".join(f"{k} {for_people(k, v, product)}" for k, v in values.items())


def facts_html(values: dict[str, Any], product: ProductSpec | None = None) -> str:
    """`values` as a two-column HTML table (exact Decimals on hover)."""
    import html

    rows = []
    cell = "padding:1px 8px;border-bottom:1px solid #eee;"
    for key, value in values.items():
        if isinstance(value, dict):
            shown = facts_html(value, product)
        else:
            shown = html.escape(for_people(key, value, product))
        hover = ""
        if isinstance(value, Decimal):
            hover = f" title='{html.escape(plain(value), quote=True)}'"
        rows.append(
            f"<tr><th style='{cell}text-align:left;font-weight:500;color:#555'>"
            f"{html.escape(str(key).replace('_', ' '))}</th>"
            f"<td style='{cell}text-align:right;font-family:monospace'{hover}>{shown}</td></tr>"
        )
    return (
        "<table class='tradekit-facts' style='border-collapse:collapse;font-size:12px'>"
        f"{''.join(rows)}</table>"
    )
