"""`Replay`: a player for a run's journal, step by step ("why did it sell?").

    from tradekit.notebook.replay import Replay
    replay = Replay(store)                    # a live run's store, a paper run's
    Replay.of_backtest(candles, params)       # a backtest's
    replay                                    # slider, step buttons, chart, panel
    replay.goto("StopGappedThrough")          # the first step that reported it

Any run that journals into a `Store` can be replayed: a live or paper session
(`session.store`), an engine's store; a backtest (whose fast path keeps no journal)
with `Replay.of_backtest(data, params)`, which runs it again through the journaled
engine. The journal holds, in order, each event that changed something, the commands
it caused (journaled before they were sent), the exchange's answers and the reports.
A **step** is one event from the market or the exchange's own news (a trade, a fill, an
order's status, a control), together with the commands it caused and the answers to
them (an order accepted or refused, a cancel confirmed): what one decision did, from
cause to acknowledgement.

At each step the state is folded from the journal alone (`ReplayState`): the position,
the stop the exchange acknowledged, the orders resting, the fills, the realized P&L,
and the protection (a sentence: protected by a resting stop, a stop move in flight, an
exit working, triggered, or unprotected and why). The chart shows the price up to
then (the journaled trades, or the whole path given as `prices`), the stop's trigger
and limit so far, the orders resting at that moment, and a line at "now".

`replay_steps(store, product_id)` is the same walk without widgets (what the tests
compare with the store's own tables).
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradekit import format as fmt
from tradekit.core.commands import (
    CancelOrder,
    EditStopOrder,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
    QueryOrder,
)
from tradekit.core.events import (
    CancelRejected,
    CancelUnknown,
    EditRejected,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
    OrderSubmitUnknown,
)
from tradekit.core.money import ProductSpec
from tradekit.core.orders import OrderStatus
from tradekit.core.reports import (
    ExitPlaced,
    PositionClosed,
    PositionOpened,
    StopGappedThrough,
    StopMoved,
    StopTriggered,
)
from tradekit.notebook.display import describe

__all__ = [
    "Replay",
    "ReplayState",
    "ReplayStep",
    "RestingOrder",
    "journal_backtest",
    "replay_steps",
]

# events that answer a command of the same step (the exchange's reply to what was sent)
ANSWERS = (
    OrderAccepted,
    OrderRejected,
    OrderSubmitUnknown,
    CancelRejected,
    CancelUnknown,
    OrderEdited,
    EditRejected,
)
_EXIT_REASONS = {
    "gap_through": "the price gapped through the stop: a marketable limit sell",
    "stop_ended_unfilled": "the stop ended unfilled: a marketable limit sell instead",
    "breach": "the stop could not rest (the price was already under its trigger): "
    "a marketable limit sell",
    "flatten": "the kill switch flattened the position",
}
# what `goto`'s default and the "next notable" button stop at
NOTABLE = (
    "OrderFilled",
    "PositionOpened",
    "PositionClosed",
    "StopTriggered",
    "StopGappedThrough",
    "StopRejected",
    "StopBreached",
    "ExitPlaced",
    "ProtectionBlocked",
    "EntrySkipped",
    "TradingStateChanged",
)


@dataclass(frozen=True)
class RestingOrder:
    """An order at the exchange (or on its way there) at a step."""

    client_order_id: str
    role: str  # "entry", "stop" or "exit"
    size: Decimal
    limit_price: Decimal
    stop_price: Decimal | None
    status: str  # "sent", "resting", "triggered", "cancel sent"
    filled: Decimal = Decimal(0)


@dataclass(frozen=True)
class ReplayState:
    """What the journal says held after a step (or before the first)."""

    ts: int | None = None
    last_price: Decimal | None = None
    open_size: Decimal | None = None
    entry_price: Decimal | None = None
    stop_trigger: Decimal | None = None  # the stop the exchange acknowledged
    stop_limit: Decimal | None = None
    orders: tuple[RestingOrder, ...] = ()
    fills: int = 0
    stops_set: int = 0  # StopMoved reports so far (first placements and moves)
    positions_closed: int = 0
    realized_pnl: Decimal = Decimal(0)

    @property
    def protection(self) -> str:
        """The protection in one sentence (what the product promises, at this step)."""
        stops = [o for o in self.orders if o.role == "stop"]
        exits = [o for o in self.orders if o.role == "exit"]
        entries = [o for o in self.orders if o.role == "entry"]
        if not self.open_size:
            if entries:
                e = entries[0]
                return f"flat; an entry {e.status} at {fmt.price(e.limit_price)}"
            return "flat: nothing to protect"
        if any(o.status == "triggered" for o in stops):
            return "stop triggered: its limit sell is working"
        if exits:
            x = exits[0]
            return f"exit working: a limit sell at {fmt.price(x.limit_price)} ({x.status})"
        resting = [o for o in stops if o.status == "resting"]
        if resting:
            s = resting[0]
            return (
                f"protected: stop {fmt.price(s.stop_price)} / limit "
                f"{fmt.price(s.limit_price)} resting"
            )
        if any(o.status == "cancel sent" for o in stops):
            return "unprotected for a moment: the stop is being moved (cancel sent)"
        if any(o.status == "sent" for o in stops):
            return "unprotected for a moment: a stop is sent, not yet acknowledged"
        return "UNPROTECTED: no stop rests and none is on its way"

    def facts(self) -> dict[str, Any]:
        """The state as plain figures (exact Decimals)."""
        return {
            "open_size": self.open_size,
            "entry_price": self.entry_price,
            "stop_trigger": self.stop_trigger,
            "stop_limit": self.stop_limit,
            "orders": [o.client_order_id for o in self.orders],
            "fills": self.fills,
            "realized_pnl": self.realized_pnl,
        }


@dataclass(frozen=True)
class ReplayStep:
    """One step of a run: the event, the commands it caused, the exchange's answers,
    the reports, and the state before and after."""

    index: int
    seq: int
    ts: int
    event: Any
    before: ReplayState
    after: ReplayState
    commands: tuple[Any, ...] = ()
    answers: tuple[Any, ...] = ()  # events answering the commands, and outcome rows
    reports: tuple[Any, ...] = ()
    notes: tuple[Any, ...] = ()
    types: frozenset[str] = field(default_factory=frozenset)  # every type in the step


class _Fold:
    """The state, updated row by row."""

    def __init__(self) -> None:
        self.s = ReplayState()
        self.orders: dict[str, RestingOrder] = {}

    def state(self) -> ReplayState:
        return dataclasses.replace(self.s, orders=tuple(self.orders.values()))

    def _set(self, **changes: Any) -> None:
        self.s = dataclasses.replace(self.s, **changes)

    def take(self, kind: str, obj: Any, ts: int) -> None:
        self._set(ts=ts)
        if kind == "command":
            self._command(obj)
        elif kind == "event":
            self._event(obj)
        elif kind == "report":
            self._report(obj)

    def _command(self, c: Any) -> None:
        if isinstance(c, PlaceLimitBuy):
            self.orders[c.client_order_id] = RestingOrder(
                c.client_order_id, "entry", c.size, c.limit_price, None, "sent"
            )
        elif isinstance(c, PlaceStopLimitSell):
            self.orders[c.client_order_id] = RestingOrder(
                c.client_order_id, "stop", c.size, c.limit_price, c.stop_price, "sent"
            )
        elif isinstance(c, PlaceLimitSell):
            self.orders[c.client_order_id] = RestingOrder(
                c.client_order_id, "exit", c.size, c.limit_price, None, "sent"
            )
        elif isinstance(c, CancelOrder):
            o = self.orders.get(c.client_order_id)
            if o is not None:
                self.orders[o.client_order_id] = dataclasses.replace(o, status="cancel sent")
        elif isinstance(c, EditStopOrder):
            pass  # the stop keeps resting at its old levels until the edit is confirmed

    def _event(self, e: Any) -> None:
        if isinstance(e, MarketTrade):
            self._set(last_price=e.price)
            return
        o = self.orders.get(getattr(e, "client_order_id", ""))
        if o is None:
            return
        coid = o.client_order_id
        if isinstance(e, OrderAccepted):
            if o.status == "sent":
                self.orders[coid] = dataclasses.replace(o, status="resting")
        elif isinstance(e, OrderRejected):
            del self.orders[coid]
        elif isinstance(e, CancelRejected):
            self.orders[coid] = dataclasses.replace(o, status="resting")
        elif isinstance(e, OrderEdited):
            self.orders[coid] = dataclasses.replace(
                o, size=e.size, stop_price=e.stop_price, limit_price=e.limit_price
            )
        elif isinstance(e, OrderFilled):
            filled = o.filled + e.size
            self._set(fills=self.s.fills + 1)
            if filled >= o.size:
                del self.orders[coid]
            else:
                self.orders[coid] = dataclasses.replace(o, filled=filled)
        elif isinstance(e, OrderStatusReport):
            if OrderStatus(e.status).is_terminal:
                del self.orders[coid]
            elif e.triggered and o.role == "stop":
                self.orders[coid] = dataclasses.replace(o, status="triggered")

    def _report(self, r: Any) -> None:
        if isinstance(r, PositionOpened):
            self._set(open_size=r.size, entry_price=r.price)
        elif isinstance(r, StopMoved):
            self._set(stop_trigger=r.trigger, stop_limit=r.limit, stops_set=self.s.stops_set + 1)
        elif isinstance(r, StopTriggered):
            o = self.orders.get(r.client_order_id)
            if o is not None:
                self.orders[o.client_order_id] = dataclasses.replace(o, status="triggered")
        elif isinstance(r, PositionClosed):
            self._set(
                open_size=None,
                entry_price=None,
                stop_trigger=None,
                stop_limit=None,
                positions_closed=self.s.positions_closed + 1,
                realized_pnl=self.s.realized_pnl + r.realized_pnl,
            )


def _answers_step(obj: Any, sent: set[str]) -> bool:
    """Whether an event answers a command sent in the current step."""
    if isinstance(obj, ANSWERS):
        return True
    return isinstance(obj, OrderStatusReport) and obj.client_order_id in sent


def replay_steps(store: Any, product_id: str | None = None) -> list[ReplayStep]:
    """Every step of `product_id`'s journal in `store` (see the module docstring)."""
    pid = _product_id(store, product_id)
    fold = _Fold()
    steps: list[ReplayStep] = []
    current: dict[str, Any] | None = None
    sent: set[str] = set()

    def close() -> None:
        if current is not None:
            steps.append(
                ReplayStep(
                    index=len(steps),
                    seq=current["seq"],
                    ts=current["ts"],
                    event=current["event"],
                    before=current["before"],
                    after=fold.state(),
                    commands=tuple(current["commands"]),
                    answers=tuple(current["answers"]),
                    reports=tuple(current["reports"]),
                    notes=tuple(current["notes"]),
                    types=frozenset(current["types"]),
                )
            )

    for row in store.journal_objects(product_id=pid):
        obj = row.obj
        if row.kind == "event" and not (current is not None and _answers_step(obj, sent)):
            close()
            sent = set()
            current = {
                "seq": row.seq,
                "ts": row.ts,
                "event": obj,
                "before": fold.state(),
                "commands": [],
                "answers": [],
                "reports": [],
                "notes": [],
                "types": {row.type},
            }
        elif current is None:  # a note before the first event
            continue
        else:
            current["types"].add(row.type)
            if row.kind == "event":
                current["answers"].append(obj)
            elif row.kind == "command":
                current["commands"].append(obj)
                if isinstance(obj, (CancelOrder, QueryOrder, EditStopOrder)):
                    sent.add(obj.client_order_id)
            elif row.kind == "outcome":
                current["answers"].append(obj)
            elif row.kind == "report":
                current["reports"].append(obj)
            else:
                current["notes"].append(obj)
        fold.take(row.kind, obj, row.ts)
    close()
    return steps


def journal_backtest(
    data: Any, params: Any, product_id: str | None = None, store: Any = None
) -> tuple[Any, list[MarketTrade]]:
    """A backtest run again with its journal: the same spec and market data as
    `tradekit.backtest(data, params)` (whose path keeps no journal, for speed), through
    the journaled `ExecutionEngine` on the same paper exchange; the two are held equal by
    the backtest tests. Returns (the store, the trades it ran on)."""
    from tradekit.backtest import as_source, resolve_spec
    from tradekit.core.decision import DecisionEngine
    from tradekit.engine import ExecutionEngine
    from tradekit.store.sqlite import Store

    source = as_source(data, product_id)
    spec = resolve_spec(params, source.product_id)
    trades = list(source.stream())
    store = store if store is not None else Store(":memory:")
    decision = DecisionEngine(spec.params(), spec.entry.make(), "bt")
    engine = ExecutionEngine(decision, spec.exchange(), store, lambda at: iter(trades[at:]))
    engine.run()
    return store, trades


def _product_id(store: Any, product_id: str | None) -> str:
    products = store.products()
    if product_id is not None:
        return product_id
    if len(products) == 1:
        return str(products[0])
    if not products:
        raise ValueError("this store's journal is empty: there is no run to replay")
    raise ValueError(f"this store holds several pairs: choose one with product_id= {products}")


def _store_of(source: Any) -> Any:
    """A Store, or anything that holds one (a Session, an engine, a backtest run)."""
    if hasattr(source, "journal_objects"):
        return source
    store = getattr(source, "store", None)
    if store is not None and hasattr(store, "journal_objects"):
        return store
    raise TypeError(
        f"Replay plays a run's journal: give it a Store (or a session, an engine or a "
        f"run that has one as .store), not {type(source).__name__}"
    )


class Replay:
    """A player for a run's journal: a slider and step buttons, a chart of the run up to
    the step, and a panel with the event, the protection before and after, the commands
    sent, the exchange's answers and the reports. See the module docstring.

    `prices`: the whole price path (MarketTrades or `(ts, price)` pairs) when the
    journal's own trades are too sparse to draw (quiet trades are not journaled).
    """

    def __init__(
        self,
        source: Any,
        product_id: str | None = None,
        *,
        prices: Iterable[Any] | None = None,
        title: str | None = None,
        height: int = 420,
        max_points: int = 4000,
    ) -> None:
        self.store = _store_of(source)
        self.product_id = _product_id(self.store, product_id)
        self.steps = replay_steps(self.store, self.product_id)
        if not self.steps:
            raise ValueError(f"the journal has no step of {self.product_id} to replay")
        from tradekit.exchange.products import DEFAULT_PRODUCTS

        self.product: ProductSpec | None = DEFAULT_PRODUCTS.get(self.product_id)
        self._prices = self._price_series(prices, max_points)
        self._stop_path = self._stop_series()
        self._title = title or f"{self.product_id}: the run, step by step"
        self._height = height
        self.index = 0
        self._missing = ""
        self._built = False

    @classmethod
    def of_backtest(cls, data: Any, params: Any, product_id: str | None = None) -> Replay:
        """A backtest's run, step by step: `Replay.of_backtest(candles, params)` with the
        arguments given to `tradekit.backtest` (see `journal_backtest`)."""
        store, trades = journal_backtest(data, params, product_id)
        return cls(store, prices=trades, title=f"{store.products()[0]}: the backtest, replayed")

    # -- data ----------------------------------------------------------------------------

    def _price_series(
        self, prices: Iterable[Any] | None, max_points: int
    ) -> tuple[list[int], list[Decimal]]:
        from tradekit.notebook.charts.points import decimate, price_points

        if prices is None:
            ts = [s.ts for s in self.steps if isinstance(s.event, MarketTrade)]
            px = [s.event.price for s in self.steps if isinstance(s.event, MarketTrade)]
        else:
            ts, px = price_points(prices, self.product_id)
        keep_ts = {s.ts for s in self.steps}
        keep = [i for i, t in enumerate(ts) if t in keep_ts]
        idx = decimate(px, max_points, keep) if len(px) > max_points else range(len(px))
        return [ts[i] for i in idx], [px[i] for i in idx]

    def _stop_series(self) -> list[tuple[int, Decimal | None, Decimal | None]]:
        """(ts, trigger, limit) at every step where the acknowledged stop changed."""
        out: list[tuple[int, Decimal | None, Decimal | None]] = []
        last: tuple[Decimal | None, Decimal | None] = (None, None)
        for s in self.steps:
            now = (s.after.stop_trigger, s.after.stop_limit)
            if now != last:
                out.append((s.ts, *now))
                last = now
        return out

    @property
    def step(self) -> ReplayStep:
        return self.steps[self.index]

    def find(self, what: str | Sequence[str] = NOTABLE, start: int = 0) -> int | None:
        """The index of the first step at or after `start` with one of these types
        (events, commands, reports: `"StopGappedThrough"`, `"OrderFilled"`...)."""
        wanted = {what} if isinstance(what, str) else set(what)
        for s in self.steps[start:]:
            if s.types & wanted:
                return s.index
        return None

    # -- moving --------------------------------------------------------------------------

    def show(self, index: int) -> ReplayStep:
        """Go to step `index` (clamped to the run); redraws when displayed."""
        self.index = max(0, min(int(index), len(self.steps) - 1))
        if self._built:
            if self.slider.value != self.index:
                self.slider.value = self.index  # its observer draws
            else:
                self._draw()
        return self.step

    def goto(self, what: str | Sequence[str] = NOTABLE, start: int | None = None) -> ReplayStep:
        """Go to the next step (after the current one, or from `start`) that has one of
        these types; stays put (and says so in the panel) when there is none."""
        begin = self.index + 1 if start is None else start
        found = self.find(what, begin)
        if found is None:
            self._missing = f"no later step with {what if isinstance(what, str) else 'news'}"
            if self._built:
                self._draw()
            return self.step
        return self.show(found)

    def next(self) -> ReplayStep:
        return self.show(self.index + 1)

    def previous(self) -> ReplayStep:
        return self.show(self.index - 1)

    # -- why did it sell? ----------------------------------------------------------------

    def exits(self) -> Any:
        """Every position the run closed, with why it sold (a `Table`; its `step`
        column is where to look: `replay.show(step - 1)`)."""
        from tradekit.notebook.display import Table

        rows = []
        why = ""
        opened_at: int | None = None
        for s in self.steps:
            for r in s.reports:
                if isinstance(r, PositionOpened):
                    opened_at, why = s.index, ""
                elif isinstance(r, StopTriggered):
                    level = s.before.stop_trigger or s.after.stop_trigger
                    why = why or (
                        f"its trailing stop triggered at {fmt.price(level, self.product)}: "
                        "the price fell back to it from the high it trailed"
                    )
                elif isinstance(r, StopGappedThrough):
                    why = (
                        f"the price gapped through the stop's limit ({fmt.price(r.limit)}): "
                        "the engine sold with a marketable limit"
                    )
                elif isinstance(r, ExitPlaced) and not why:
                    why = _EXIT_REASONS.get(str(r.reason), f"an exit ({r.reason})")
                elif isinstance(r, PositionClosed):
                    rows.append(
                        {
                            "step": s.index + 1,
                            "ts": s.ts,
                            "opened at step": None if opened_at is None else opened_at + 1,
                            "entry_price": r.entry_price,
                            "exit_price": r.exit_price,
                            "realized_pnl": r.realized_pnl,
                            "why": why or "its stop filled",
                            "product_id": self.product_id,
                        }
                    )
                    why, opened_at = "", None
        return Table(
            f"{self.product_id}: why each position sold",
            ["step", "ts", "opened at step", "entry_price", "exit_price", "realized_pnl", "why"],
            rows,
            ts_columns=("ts",),
        )

    # -- text ----------------------------------------------------------------------------

    def panel_lines(self, step: ReplayStep | None = None) -> list[tuple[str, str]]:
        """The panel's content as (label, text) rows."""
        s = step or self.step
        p = self.product
        rows = [
            ("step", f"{s.index + 1} of {len(self.steps)} · {fmt.timestamp(s.ts)}"),
            ("event", describe(s.event, p)),
            ("protection before", s.before.protection),
            ("protection after", s.after.protection),
        ]
        rows += [("command sent", describe(c, p)) for c in s.commands]
        rows += [("exchange answered", describe(a, p)) for a in s.answers]
        rows += [("report", describe(r, p)) for r in s.reports]
        rows += [("note", describe(n, p)) for n in s.notes]
        a = s.after
        rows.append(
            (
                "position",
                "flat"
                if not a.open_size
                else f"{fmt.size(a.open_size, p)} from {fmt.price(a.entry_price, p)}",
            )
        )
        rows.append(
            (
                "so far",
                f"{fmt.count(a.fills, 'fill')}, {fmt.count(a.positions_closed, 'position')} "
                f"closed, realized P&L {fmt.signed_money(a.realized_pnl)} (fees included)",
            )
        )
        return rows

    def __repr__(self) -> str:
        return "\n".join(f"{k:<18} {v}" for k, v in self.panel_lines())

    # -- widgets -------------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w
        import plotly.graph_objects as go

        from tradekit.notebook.charts.points import datetimes_of, floats_of

        self._missing = ""
        n = len(self.steps)
        self.slider = w.IntSlider(
            value=self.index,
            min=0,
            max=n - 1,
            description="step",
            continuous_update=True,
            layout=w.Layout(width="60%"),
        )
        self.slider.add_class("tradekit-replay-slider")
        self.slider.observe(self._on_slider, "value")

        def button(label: str, action: Any, css: str) -> Any:
            b = w.Button(description=label, layout=w.Layout(width="auto"))
            b.add_class(css)
            b.on_click(lambda _b: action())
            return b

        self.buttons = {
            "first": button("|◀ first", lambda: self.show(0), "tradekit-replay-first"),
            "previous": button("◀ step", self.previous, "tradekit-replay-prev"),
            "next": button("step ▶", self.next, "tradekit-replay-next"),
            "notable": button("next news ▶▶", lambda: self.goto(), "tradekit-replay-news"),
            "last": button("last ▶|", lambda: self.show(n - 1), "tradekit-replay-last"),
        }
        self.panel = w.HTML(layout=w.Layout(width="100%"))
        self.panel.add_class("tradekit-replay-panel")

        quote = self.product_id.split("-", 1)[-1]
        fig = go.FigureWidget()
        ts, px = self._prices
        self._all_x = datetimes_of(ts)
        self._all_y = floats_of(px)
        fig.add_scatter(
            name="price", mode="lines", line={"color": "#4c78a8", "width": 1.2}, hoverinfo="skip"
        )
        fig.add_scatter(
            name="stop trigger", mode="lines", line={"color": "#d62728", "width": 2, "shape": "hv"}
        )
        fig.add_scatter(
            name="stop limit",
            mode="lines",
            line={"color": "#ff9896", "width": 1.5, "dash": "dash", "shape": "hv"},
        )
        fig.add_scatter(
            name="resting now",
            mode="markers+text",
            textposition="middle right",
            marker={"symbol": "line-ew-open", "size": 22, "line": {"width": 3}},
            hoverinfo="text",
        )
        fig.add_scatter(
            name="fills",
            mode="markers",
            marker={"symbol": "circle", "size": 9, "color": "#2ca02c"},
            hoverinfo="text",
        )
        fig.update_layout(
            title={"text": self._title, "x": 0.01, "xanchor": "left", "y": 0.98},
            template="plotly_white",
            height=self._height,
            uirevision="replay",
            legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            margin={"l": 70, "r": 110, "t": 90, "b": 40},
            xaxis={"title": {"text": "time (UTC)"}, "range": [self._all_x[0], self._all_x[-1]]}
            if self._all_x
            else {},
            yaxis={"title": {"text": f"price ({quote})"}, "tickformat": ",.2f"},
        )
        self.chart = fig
        self._fill_points = [
            (s.ts, a.price, s.index, self._side(s, a.client_order_id))
            for s in self.steps
            for a in (s.event, *s.answers)
            if isinstance(a, OrderFilled)
        ]
        controls = w.HBox(
            [
                self.buttons["first"],
                self.buttons["previous"],
                self.slider,
                self.buttons["next"],
                self.buttons["notable"],
                self.buttons["last"],
            ],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.widget = w.VBox([controls, self.panel, fig], layout=w.Layout(width="100%"))
        self.widget.add_class("tradekit-replay")
        self._built = True
        self._draw()

    @staticmethod
    def _side(step: ReplayStep, client_order_id: str) -> str:
        """ "buy" for an entry's fill, "sell" otherwise (the order as it rested before)."""
        for o in step.before.orders:
            if o.client_order_id == client_order_id:
                return "buy" if o.role == "entry" else "sell"
        return "sell"

    def _on_slider(self, change: Any) -> None:
        self.index = int(change["new"])
        self._missing = ""
        self._draw()

    def _draw(self) -> None:
        from bisect import bisect_right

        from tradekit.notebook.charts.points import ts_to_datetime

        s = self.step
        p = self.product
        rows = self.panel_lines(s)
        if self._missing:
            rows.insert(1, ("", self._missing))
        cells = "".join(
            f"<tr><td style='padding:1px 8px;color:#666;white-space:nowrap;vertical-align:top'>"
            f"{html.escape(k)}</td><td style='padding:1px 8px;font-family:monospace'>"
            f"{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        self.panel.value = f"<table style='font-size:12px;border-collapse:collapse'>{cells}</table>"
        ts_list = self._prices[0]
        upto = bisect_right(ts_list, s.ts)
        stops = [x for x in self._stop_path if x[0] <= s.ts]
        sx: list[Any] = []
        st: list[float | None] = []
        sl: list[float | None] = []
        for i, (t, trig, lim) in enumerate(stops):
            if trig is None:
                continue
            sx.append(ts_to_datetime(t))
            st.append(float(trig))
            sl.append(None if lim is None else float(lim))
            last = i == len(stops) - 1
            if last or stops[i + 1][1] is None:  # held until the position closed, or now
                end_ts = s.ts if last else stops[i + 1][0]
                sx += [ts_to_datetime(end_ts), None]
                st += [float(trig), None]
                sl += [None if lim is None else float(lim), None]
        now = ts_to_datetime(s.ts)
        colours = {"entry": "#2ca02c", "stop": "#d62728", "exit": "#7b3294"}
        resting = s.after.orders
        fills = [f for f in self._fill_points if f[2] <= s.index]
        with self.chart.batch_update():
            d = self.chart.data
            d[0].x, d[0].y = self._all_x[:upto], self._all_y[:upto]
            d[1].x, d[1].y = sx, st
            d[2].x, d[2].y = sx, sl
            d[3].x = [now] * len(resting)
            levels = [o.limit_price if o.stop_price is None else o.stop_price for o in resting]
            d[3].y = [float(x) for x in levels]
            d[3].text = [
                f"{o.role} {fmt.price(x, p)} ({o.status})"
                for o, x in zip(resting, levels, strict=True)
            ]
            d[3].marker.color = [colours.get(o.role, "#333") for o in resting]
            d[4].x = [ts_to_datetime(t) for t, _, _, _ in fills]
            d[4].y = [float(px) for _, px, _, _ in fills]
            d[4].text = [f"{side} fill at {fmt.price(px, p)}" for _, px, _, side in fills]
            d[4].marker.color = [
                "#2ca02c" if side == "buy" else "#7b3294" for _, _, _, side in fills
            ]
            self.chart.layout.shapes = [
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": now,
                    "x1": now,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": "#888", "width": 1, "dash": "dot"},
                }
            ]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if not self._built:
            self._build()
        return self.widget._repr_mimebundle_(**kwargs)
