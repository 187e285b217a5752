"""Readable tables of a store: positions, orders, fills, stop history, the journal.

    from tradekit.notebook import tables      # this module
    tables.positions(store)                   # an HTML table in a notebook
    tables.journal(store, last=20)
    tables.stops(store).to_dataframe()        # a pandas DataFrame

Each function returns a `Table`: `_repr_html_` for Jupyter, a plain-text `repr` for a
terminal, `rows` (dicts) and `to_dataframe()` (pandas, imported then). Numbers are
shown for people (`tradekit.format`): prices and sizes at the product's increments,
money to the cent, fractions as percentages, long order ids shortened (the full id on
hover); the rows and the DataFrame keep the exact `Decimal` objects (object columns).
Times are nanoseconds since the epoch in the rows, UTC datetimes in the DataFrame.
`columns=[...]` picks the columns shown (every function takes it).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradekit import format as fmt
from tradekit.core.money import ProductSpec, plain

if TYPE_CHECKING:
    from tradekit.store.sqlite import Store

__all__ = [
    "StepView",
    "Table",
    "describe",
    "facts",
    "feed_health",
    "fills",
    "journal",
    "orders",
    "positions",
    "status",
    "step",
    "stop_history",
    "stops",
    "styled",
]

_EPOCH = datetime(1970, 1, 1)

# How a column's numbers are shown, by its name (a Table's `kinds` adds or overrides).
COLUMN_KINDS: dict[str, str] = {
    **dict.fromkeys(
        (
            "price",
            "last_price",
            "entry_price",
            "exit_price",
            "limit_price",
            "stop_price",
            "stop",
            "stop_limit",
            "trigger",
            "old_trigger",
            "highest",
        ),
        "price",
    ),
    **dict.fromkeys(("size", "open_size", "filled_size"), "size"),
    **dict.fromkeys(
        ("fee", "fees", "realized_pnl", "unrealized_pnl", "filled_value", "pnl"), "money"
    ),
    **dict.fromkeys(("stop_distance", "distance_to_stop"), "pct"),
    **dict.fromkeys(("client_order_id", "order_id", "trade_id"), "id"),
}
_CELL = "padding:2px 8px;border-bottom:1px solid #e4e4e4;"
_NUM = _CELL + "text-align:right;font-family:monospace;white-space:nowrap;"
_TEXT = _CELL + "text-align:left;"


def format_ts(ts: int | None) -> str:
    """Nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS[.ffffff] UTC`."""
    if ts is None:
        return ""
    dt = _EPOCH + timedelta(microseconds=ts // 1000)
    return dt.isoformat(sep=" ") + " UTC"


def format_value(value: Any, nested: bool = False) -> str:
    """One cell as text: Decimals exactly, lists joined, dicts as `k=v`."""
    if value is None:
        return "null" if nested else ""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (list, tuple, set)):
        return ", ".join(format_value(v, True) for v in value)
    if isinstance(value, dict):
        if nested:
            return "{" + ", ".join(f"{k}={format_value(v, True)}" for k, v in value.items()) + "}"
        return "  ".join(f"{k}={format_value(v, True)}" for k, v in value.items())
    return str(value)


class Table:
    """Rows of a store query with a readable HTML view and a DataFrame export.

    `ts_columns` hold nanosecond times (shown as UTC, datetimes in the DataFrame);
    `max_rows` bounds the HTML view (the first rows, or the last with `tail=True`),
    never the data. `kinds` maps a column to how its numbers read ("price", "size",
    "money", "pct", "id", "exact"; by default from the column's name, `COLUMN_KINDS`);
    prices and sizes use the increments of the row's product (`products`, else the
    row's own `product`, else the default products).
    """

    def __init__(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[dict[str, Any]],
        *,
        ts_columns: Iterable[str] = (),
        max_rows: int = 60,
        tail: bool = False,
        kinds: Mapping[str, str] | None = None,
        products: Mapping[str, ProductSpec] | None = None,
    ) -> None:
        self.title = title
        self.columns = list(columns)
        self.kinds = {**COLUMN_KINDS, **(kinds or {})}
        self.products = products
        self.rows = list(rows)
        self.ts_columns = frozenset(ts_columns)
        self.max_rows = max_rows
        self.tail = tail

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]

    def _product(self, row: dict[str, Any]) -> ProductSpec | None:
        spec = row.get("product")
        if isinstance(spec, ProductSpec):
            return spec
        pid = row.get("product_id")
        if pid is None:
            return None
        if self.products is not None and pid in self.products:
            return self.products[pid]
        from tradekit.exchange.products import DEFAULT_PRODUCTS

        return DEFAULT_PRODUCTS.get(pid)

    def _cell(self, column: str, row: dict[str, Any]) -> str:
        value = row.get(column)
        if column in self.ts_columns:
            return fmt.timestamp(value) if value is not None else ""
        kind = self.kinds.get(column)
        if isinstance(value, Decimal):
            if kind == "price":
                return fmt.price(value, self._product(row))
            if kind == "size":
                return fmt.size(value, self._product(row))
            if kind == "money":
                return fmt.money(value)
            if kind == "pct":
                return fmt.pct(value)
            if kind == "exact":
                return plain(value)
        if isinstance(value, (Decimal, float)) and not isinstance(value, bool):
            return fmt.for_people(column, value, self._product(row))
        if kind == "id" and isinstance(value, str):
            return fmt.short_id(value)
        if isinstance(value, dict):
            return people_text(value, self._product(row))
        return format_value(value)

    def _title_attr(self, column: str, row: dict[str, Any]) -> str:
        """The exact value on hover, where the cell shows less of it."""
        value = row.get(column)
        if isinstance(value, Decimal) or (self.kinds.get(column) == "id" and value):
            full = plain(value) if isinstance(value, Decimal) else str(value)
            return f" title='{html.escape(full, quote=True)}'"
        return ""

    def _shown(self) -> tuple[list[dict[str, Any]], int]:
        hidden = max(0, len(self.rows) - self.max_rows)
        if not hidden:
            return self.rows, 0
        return (self.rows[-self.max_rows :] if self.tail else self.rows[: self.max_rows]), hidden

    def _repr_html_(self) -> str:
        shown, hidden = self._shown()
        head = "".join(
            f"<th style='{_TEXT}font-weight:600'>{html.escape(c)}</th>" for c in self.columns
        )
        body = []
        for row in shown:
            cells = []
            for c in self.columns:
                style = _NUM if isinstance(row.get(c), (Decimal, int)) else _TEXT
                cells.append(
                    f"<td style='{style}'{self._title_attr(c, row)}>"
                    f"{html.escape(self._cell(c, row))}</td>"
                )
            body.append("<tr>" + "".join(cells) + "</tr>")
        if not shown:
            body.append(f"<tr><td colspan='{len(self.columns)}' style='{_TEXT}'>(none)</td></tr>")
        more = ""
        if hidden:
            which = "first" if self.tail else "last"
            more = (
                f"<div style='color:#777'>… {hidden} {which} rows not shown; "
                f"<code>.to_dataframe()</code> has them all</div>"
            )
        n = len(self.rows)
        return (
            f"<div class='tradekit-table'><div><b>{html.escape(self.title)}</b> "
            f"<span style='color:#777'>({fmt.count(n, 'row')})</span></div>"
            f"<div style='max-width:100%;overflow-x:auto'>"
            f"<table style='border-collapse:collapse;font-size:12px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{more}</div>"
        )

    def __repr__(self) -> str:
        shown, hidden = self._shown()
        grid = [self.columns] + [[self._cell(c, r) for c in self.columns] for r in shown]
        widths = [max(len(line[i]) for line in grid) for i in range(len(self.columns))]
        lines = [f"{self.title} ({fmt.count(len(self.rows), 'row')})"]
        lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in grid]
        if hidden:
            lines.append(f"... {hidden} more rows (to_dataframe() has them all)")
        return "\n".join(lines)

    def to_dataframe(self) -> Any:
        """A `pandas.DataFrame` of every row: Decimals kept (object columns), times as
        UTC datetimes. Columns beyond the shown ones (e.g. the journal's `payload`) are
        kept too."""
        import pandas as pd

        extra = [k for row in self.rows[:1] for k in row if k not in self.columns]
        df = pd.DataFrame(self.rows, columns=self.columns + extra)
        for c in self.ts_columns:
            if c in df.columns:
                df[c] = pd.to_datetime(df[c].astype("Int64"), unit="ns", utc=True)
        return df


def positions(
    store: Store, product_id: str | None = None, columns: Sequence[str] | None = None
) -> Table:
    """Every position, oldest first: open ones have no exit yet."""
    rows = sorted(
        store.closed_positions(product_id) + store.open_positions(product_id),
        key=lambda p: p["id"],
    )
    for r in rows:
        r["state"] = "open" if r["closed_ts"] is None else "closed"
    default = [
        "id",
        "product_id",
        "state",
        "opened_ts",
        "closed_ts",
        "size",
        "entry_price",
        "exit_price",
        "fees",
        "realized_pnl",
    ]
    return Table("positions", columns or default, rows, ts_columns=("opened_ts", "closed_ts"))


def orders(
    store: Store, product_id: str | None = None, columns: Sequence[str] | None = None
) -> Table:
    """Every order recorded, oldest first, with its latest known state."""
    default = [
        "client_order_id",
        "side",
        "order_type",
        "status",
        "size",
        "limit_price",
        "stop_price",
        "filled_size",
        "filled_value",
        "fees",
        "triggered",
        "reason",
        "created_ts",
        "updated_ts",
        "order_id",
    ]
    return Table(
        "orders",
        columns or default,
        store.order_history(product_id),
        ts_columns=("created_ts", "updated_ts"),
    )


def fills(
    store: Store, product_id: str | None = None, columns: Sequence[str] | None = None
) -> Table:
    """Every fill booked, in order."""
    default = ["id", "ts", "client_order_id", "side", "price", "size", "fee", "trade_id"]
    return Table("fills", columns or default, store.fills(product_id), ts_columns=("ts",))


def stops(
    store: Store, product_id: str | None = None, columns: Sequence[str] | None = None
) -> Table:
    """The stop history: each first stop (no old trigger) and each move."""
    default = [
        "id",
        "position_id",
        "ts",
        "old_trigger",
        "trigger",
        "limit_price",
        "price",
        "highest",
    ]
    return Table(
        "stop history", columns or default, store.stop_history(product_id), ts_columns=("ts",)
    )


stop_history = stops


def journal(
    store: Store,
    product_id: str | None = None,
    kinds: str | Iterable[str] | None = None,
    since_seq: int = 0,
    last: int | None = None,
    columns: Sequence[str] | None = None,
) -> Table:
    """Journal rows (events, commands, reports, outcomes, notes), oldest first;
    `last=N` keeps the N most recent. `detail` is the payload as `key value` text for
    people (prices at the product's increments, money to the cent); the DataFrame also
    has `payload` itself, with the exact strings stored."""
    rows = store.journal(since_seq=since_seq, product_id=product_id, kinds=kinds)
    if last is not None:
        rows = rows[-last:] if last > 0 else []
    for r in rows:
        payload = r["payload"]
        detail = {k: v for k, v in payload.items() if k not in ("type", "product_id", "ts")}
        r["detail"] = people_text(_decimals(detail), _default_product(r["product_id"]))
    return Table(
        "journal",
        columns or ["seq", "ts", "product_id", "kind", "type", "detail"],
        rows,
        ts_columns=("ts",),
        tail=True,
    )


def status(portfolio: Any, columns: Sequence[str] | None = None) -> Table:
    """A running (or stopped) portfolio, one row per pair: `Portfolio.pair_status`."""
    default = [
        "product_id",
        "state",
        "phase",
        "protection",
        "last_price",
        "open_size",
        "stop",
        "stop_limit",
        "stop_distance",
        "realized_pnl",
        "unrealized_pnl",
    ]
    return Table("portfolio status", columns or default, portfolio.status())


def feed_health(session: Any) -> Table:
    """The feed's and the portfolio's figures of a session, as one row."""
    f, p = session.feed.stats, session.portfolio.stats
    row = {
        "messages": f.messages,
        "gaps": f.gaps,
        "duplicates": f.duplicates,
        "reconnects": f.reconnects,
        "resyncs": f.resyncs,
        "events handled": p.messages,
        "commands": p.commands,
        "REST polls": p.polls,
    }
    return Table("feed health", list(row), [row])


def _default_product(product_id: str | None) -> ProductSpec | None:
    if not product_id:
        return None
    from tradekit.exchange.products import DEFAULT_PRODUCTS

    return DEFAULT_PRODUCTS.get(product_id)


def _decimals(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored payload's numeric strings as Decimals (for display only)."""
    out: dict[str, Any] = {}
    for k, v in payload.items():
        if isinstance(v, str) and kind_is_numeric(k):
            try:
                out[k] = Decimal(v)
                continue
            except ArithmeticError:
                pass
        out[k] = _decimals(v) if isinstance(v, dict) else v
    return out


def kind_is_numeric(name: str) -> bool:
    return fmt.kind_of(name) in ("money", "pct", "price", "size")


def people_text(values: Mapping[str, Any], product: ProductSpec | None = None) -> str:
    """`key value` pairs for people: each figure by its name (`fmt.for_people`)."""
    parts = []
    for k, v in values.items():
        if v is None or v == "" or v == {}:
            continue
        if isinstance(v, dict):
            shown = people_text(v, product)
        elif k in ("order_id", "trade_id") and isinstance(v, str):
            shown = fmt.short_id(v)  # an exchange's UUID by its first block
        else:
            shown = fmt.for_people(k, v, product)
        parts.append(f"{k} {'{' + shown + '}' if isinstance(v, dict) else shown}")
    return "  ".join(parts)


def facts(obj: Any, product: ProductSpec | None = None) -> fmt.Facts:
    """A dict, a dataclass or a config model as a small table for people (a `Facts`:
    still a dict of the exact values)."""
    import dataclasses

    if isinstance(obj, fmt.Facts):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif hasattr(obj, "model_dump"):
        values = obj.model_dump()
    else:
        values = dict(obj)
    return fmt.Facts(values, product=product)


def describe(obj: Any, product: ProductSpec | None = None) -> str:
    """An event, a command, a report or an outcome in one line for people:
    `OrderFilled r-BTC-USD-2 price 59,696.52 size 0.05 fee 11.94`."""
    import dataclasses

    if obj is None:
        return ""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__name__
        values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, Mapping):
        values = dict(obj)
        name = str(values.pop("type", "outcome"))
    else:
        return str(obj)
    for k in ("product_id", "ts", "type"):
        values.pop(k, None)
    nested = {k: v for k, v in values.items() if dataclasses.is_dataclass(v)}
    for k in nested:
        values[k] = f"({describe(nested[k], product)})"
    head = values.pop("client_order_id", None)
    body = people_text(_decimals(values), product)
    return " ".join(str(p) for p in (name, head, body) if p)


class StepView:
    """One engine step for people (what `step(result)` returns): the event, the commands
    sent, the exchange's answers and the reports, a line each."""

    def __init__(self, result: Any, product: ProductSpec | None = None) -> None:
        self.result = result
        pid = getattr(result.event, "product_id", None)
        self.product = product or _default_product(pid)

    def lines(self) -> list[tuple[str, str]]:
        r, p = self.result, self.product
        out = [("event", describe(r.event, p))]
        out += [("command", describe(c, p)) for c in r.commands]
        out += [("answer", describe(o, p)) for o in r.outcomes]
        out += [("report", describe(x, p)) for x in r.reports]
        return out

    def __repr__(self) -> str:
        return "\n".join(f"{k:<8} {v}" for k, v in self.lines())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='{_TEXT}color:#777'>{k}</td>"
            f"<td style='{_TEXT}font-family:monospace'>{html.escape(v)}</td></tr>"
            for k, v in self.lines()
        )
        return f"<table style='border-collapse:collapse;font-size:12px'>{rows}</table>"


def step(result: Any, product: ProductSpec | None = None) -> StepView:
    """A `StepResult` for people: `tables.step(engine.step())`."""
    return StepView(result, product)


def styled(frame: Any, product: ProductSpec | str | None = None) -> Any:
    """A pandas DataFrame shown for people (a `Styler`): each column by its name
    (`fmt.for_people`: prices and sizes at the product's increments, money to the cent,
    fractions as percentages); the frame itself keeps its exact values."""
    if isinstance(product, str):
        product = _default_product(product)

    def formatter(column: str) -> Any:
        def shown(value: Any) -> str:
            if value is None or (not isinstance(value, (str, Decimal)) and value != value):
                return fmt.DASH
            return fmt.for_people(column, value, product)

        return shown

    return frame.style.format({c: formatter(str(c)) for c in frame.columns})
