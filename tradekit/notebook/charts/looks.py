"""The ratchet charts' looks: the seven traces in drawing order, the empty figure, and
the hover texts (numbers for people: `tradekit.format`, at the product's increments)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tradekit import format as fmt
from tradekit.core.money import ProductSpec

TRACE_NAMES = (
    "price",
    "highest since entry",
    "stop trigger",
    "stop limit",
    "entries",
    "exits",
    "stop moves",
)
PRICE, HIGHEST, TRIGGER, LIMIT, ENTRIES, EXITS, MOVES = range(len(TRACE_NAMES))
PLACED_MARKER = 9  # marker size on the trigger line where a position's first stop rests


def plotly_objects() -> Any:
    import plotly.graph_objects as go

    return go


def product_of(product_id: str | None) -> ProductSpec | None:
    """The product's increments for the hovers (the default products'), or None."""
    if not product_id:
        return None
    from tradekit.exchange.products import DEFAULT_PRODUCTS

    return DEFAULT_PRODUCTS.get(product_id)


_TRACE_STYLES: tuple[tuple[int, dict[str, Any]], ...] = (
    (
        PRICE,
        {
            "mode": "lines",
            "line": {"color": "#4c78a8", "width": 1.2},
            "hovertemplate": "%{x|%Y-%m-%d %H:%M:%S} UTC<br>price %{text}<extra></extra>",
        },
    ),
    (
        HIGHEST,
        {
            "mode": "lines",
            "line": {"color": "#9d9d9d", "width": 1, "dash": "dot", "shape": "hv"},
            "hovertemplate": "%{text}<extra>highest</extra>",
        },
    ),
    (
        TRIGGER,
        {
            "mode": "lines+markers",  # markers only where a first stop rests (sizes)
            "line": {"color": "#d62728", "width": 2, "shape": "hv"},
            "marker": {"symbol": "square", "color": "#d62728", "size": 0},
            "hovertemplate": "%{text}<extra>stop</extra>",
        },
    ),
    (
        LIMIT,
        {
            "mode": "lines",
            "line": {"color": "#ff9896", "width": 1.5, "dash": "dash", "shape": "hv"},
            "hovertemplate": "%{text}<extra>stop limit</extra>",
        },
    ),
    (
        ENTRIES,
        {
            "mode": "markers",
            "marker": {"symbol": "triangle-up", "size": 12, "color": "#2ca02c"},
            "hovertemplate": "%{text}<extra>entry</extra>",
        },
    ),
    (
        EXITS,
        {
            "mode": "markers",
            "marker": {"symbol": "triangle-down", "size": 12, "color": "#7b3294"},
            "hovertemplate": "%{text}<extra>exit</extra>",
        },
    ),
    (
        MOVES,
        {
            "mode": "markers",
            "marker": {"symbol": "diamond", "size": 6, "color": "#ff7f0e"},
            "hovertemplate": "%{text}<extra>stop move</extra>",
        },
    ),
)
"""The seven traces in drawing order, with their looks."""


def base_figure(go: Any, title: str, quote: str, height: int, widget: bool) -> Any:
    """The seven named traces, empty, styled; a Figure or a FigureWidget."""
    fig = go.FigureWidget() if widget else go.Figure()
    for key, style in _TRACE_STYLES:
        fig.add_trace(go.Scatter(name=TRACE_NAMES[key], **style))
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        template="plotly_white",
        height=height,
        hovermode="closest",
        uirevision="tradekit",  # keep the user's zoom across live updates
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0},
        margin={"l": 70, "r": 20, "t": 80, "b": 40},
        xaxis={"title": {"text": "time (UTC)"}},
        yaxis={"title": {"text": f"price ({quote})"}, "tickformat": ",.2f"},
    )
    return fig


def hover_time(ts: int) -> str:
    return fmt.timestamp(ts)


def stop_hover_text(trigger: Decimal, limit: Decimal, product: ProductSpec | None = None) -> str:
    return f"trigger {fmt.price(trigger, product)}<br>limit {fmt.price(limit, product)}"


def fill_hover_text(
    kind: str,
    ts: int,
    price: Decimal,
    size: Decimal,
    fee: Decimal,
    coid: str,
    product: ProductSpec | None = None,
) -> str:
    return (
        f"{kind} fill {hover_time(ts)}<br>price {fmt.price(price, product)}"
        f"<br>size {fmt.size(size, product)}<br>fee {fmt.money(fee)}<br>order {coid}"
    )


def move_hover_text(
    old: Decimal,
    new: Decimal,
    limit: Decimal,
    price: Decimal,
    high: Decimal,
    product: ProductSpec | None = None,
) -> str:
    p = product
    return (
        f"stop moved: trigger {fmt.price(old, p)} → {fmt.price(new, p)}"
        f"<br>limit {fmt.price(limit, p)}"
        f"<br>moved by price {fmt.price(price, p)} (highest {fmt.price(high, p)})"
    )
