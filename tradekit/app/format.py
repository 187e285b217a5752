"""Moved to `tradekit.format` (the notebook layer and the app layer both stand on it).

This name stays for notebooks written against it and for `tradekit/backtest/`, which
still imports it; new code imports `tradekit.format`.
"""

from tradekit.format import (
    CENT,
    DASH,
    Facts,
    count,
    exact,
    facts_html,
    facts_text,
    for_people,
    kind_of,
    money,
    number,
    pct,
    price,
    short_id,
    signed_money,
    size,
    timestamp,
)

__all__ = [
    "CENT",
    "DASH",
    "Facts",
    "count",
    "exact",
    "facts_html",
    "facts_text",
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
