"""`ClassReplay`: a recorded class session, every student's stop over the same price.

    replay = ClassReplay("keys/session.jsonl")
    replay                       # the price, each student's stop, a scrubber
    replay.describe(replay.gap)  # "at the gap, 18 of 30 stops did not fill"
    replay.open("student-07")    # that student's run in the single-run Replay

The recording (`tradekit.sim.recording`) holds the market's trades and every account's
orders, cancels and fills in the order they happened; from the last reset on, this
folds it into each student's resting stop over time. `open(student)` turns one
student's lines into a journal the single-run `Replay` reads (a command and its answer
per request, a fill per fill, the reports a stop and a position make), so the player
that explains a run step by step explains theirs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from tradekit.core.commands import (
    CancelOrder,
    CancelReason,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
)
from tradekit.core.events import (
    MarketTrade,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderStatusReport,
)
from tradekit.core.orders import OrderStatus
from tradekit.core.reports import PositionClosed, PositionOpened, StopMoved
from tradekit.sim.recording import read_recording

__all__ = ["ClassReplay", "Moment", "StudentJournal"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Stop:
    order_id: str
    client_order_id: str
    trigger: Decimal
    limit: Decimal
    size: Decimal


@dataclass
class Moment:
    """The class at one trade: its price, each student's resting stop, and what that
    trade did to the stops (triggered, filled)."""

    index: int
    ts: int
    price: Decimal
    resting: dict[str, Stop] = field(default_factory=dict)  # before this trade
    triggered: list[str] = field(default_factory=list)  # students whose stop it reached
    filled: list[str] = field(default_factory=list)  # ... and whose stop it filled

    @property
    def not_filled(self) -> list[str]:
        return [s for s in self.triggered if s not in self.filled]


def _session(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events from the last reset on (with the start's roster kept)."""
    kept: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    for ev in events:
        if ev["kind"] == "start":
            start = ev
            kept = [ev]
        elif ev["kind"] == "reset":
            kept = [start] if start is not None else []
        else:
            kept.append(ev)
    return kept


class ClassReplay:
    """A class session's stops over its price (see the module docstring)."""

    def __init__(self, recording: str | Path | Iterable[dict[str, Any]]) -> None:
        events = read_recording(recording) if isinstance(recording, str | Path) else list(recording)
        self.events = _session(events)
        start = next((e for e in self.events if e["kind"] == "start"), None)
        self.students: list[str] = list(start["students"]) if start else []
        self.trades: list[MarketTrade] = []
        self.moments: list[Moment] = []
        self._fold()
        if not self.trades:
            raise ValueError("the recording holds no trade: there is no session to replay")
        self.index = self.gap if self.gap is not None else 0
        self._widget: Any = None

    # -- the fold

    def _fold(self) -> None:
        resting: dict[str, dict[str, Stop]] = {s: {} for s in self.students}
        pending: Moment | None = None
        for ev in self.events:
            kind, student = ev["kind"], ev.get("student")
            if kind == "trade":
                trade = _trade(ev)
                self.trades.append(trade)
                snapshot = {
                    s: max(st.values(), key=lambda x: x.trigger) for s, st in resting.items() if st
                }
                pending = Moment(len(self.moments), trade.ts, trade.price, snapshot)
                pending.triggered = [s for s, st in snapshot.items() if trade.price <= st.trigger]
                self.moments.append(pending)
                continue
            if student is None:
                continue
            stops = resting.setdefault(student, {})
            if kind == "order" and ev["success"] and ev["call"] == "place_stop_limit":
                a = ev["args"]
                if a.get("side", "SELL") == "SELL":
                    stops[ev["order_id"]] = Stop(
                        ev["order_id"],
                        ev["client_order_id"],
                        Decimal(a["stop_price"]),
                        Decimal(a["limit_price"]),
                        Decimal(a["size"]),
                    )
            elif kind == "cancel" and ev["success"]:
                stops.pop(ev["order_id"], None)
            elif kind == "fill" and ev["order_id"] in stops:
                stop = stops[ev["order_id"]]
                if pending is not None and pending.ts == ev["ts"] and student not in pending.filled:
                    pending.filled.append(student)
                left = stop.size - Decimal(ev["size"])
                if left <= 0:
                    del stops[ev["order_id"]]
                else:
                    stops[ev["order_id"]] = Stop(
                        stop.order_id, stop.client_order_id, stop.trigger, stop.limit, left
                    )

    @property
    def gap(self) -> int | None:
        """The trade that fell furthest from the one before (None on a flat market)."""
        best, where = ZERO, None
        for i in range(1, len(self.trades)):
            drop = (self.trades[i - 1].price - self.trades[i].price) / self.trades[i - 1].price
            if drop > best:
                best, where = drop, i
        return where

    def stop_path(self, student: str) -> list[Decimal | None]:
        """The student's resting stop trigger at each trade (None: no stop)."""
        return [m.resting[student].trigger if student in m.resting else None for m in self.moments]

    def describe(self, index: int | None = None) -> str:
        """One sentence about the stops at a trade ("at the gap, 18 of 30 stops did not
        fill")."""
        i = self.index if index is None else index
        m = self.moments[i]
        where = "at the gap" if i == self.gap else f"at trade {i}"
        price = f"{m.price:,.2f}"
        with_stop = len(m.resting)
        if not m.triggered:
            return f"{where} ({price}): no stop reached; {with_stop} of {len(self.students)} rest"
        missed = len(m.not_filled)
        return (
            f"{where} ({price}), {missed} of {len(m.triggered)} stops did not fill "
            f"({len(m.filled)} filled; {len(self.students) - with_stop} students had no stop)"
        )

    # -- one student's run

    def journal(self, student: str) -> StudentJournal:
        if student not in self.students:
            raise ValueError(f"no student {student!r} in this session ({len(self.students)})")
        return StudentJournal(self.events, student)

    def open(self, student: str) -> Any:
        """That student's run in the single-run `Replay` (over the class's price)."""
        from tradekit.notebook.replay import Replay

        return Replay(
            self.journal(student),
            prices=self.trades,
            title=f"{student}: the class session, step by step",
        )

    # -- the widget

    def _build(self) -> Any:
        import ipywidgets as w
        import plotly.graph_objects as go

        xs = list(range(len(self.trades)))
        fig = go.FigureWidget()
        fig.add_scatter(
            x=xs, y=[float(t.price) for t in self.trades], name="price", line={"color": "#222"}
        )
        for s in self.students:
            path = self.stop_path(s)
            fig.add_scatter(
                x=xs,
                y=[None if p is None else float(p) for p in path],
                name=s,
                mode="lines",
                line={"width": 1, "shape": "hv"},
                opacity=0.5,
                showlegend=False,
            )
        fig.update_layout(
            height=420, margin={"l": 40, "r": 10, "t": 30, "b": 30}, title="the class's stops"
        )
        slider = w.IntSlider(value=self.index, min=0, max=len(self.trades) - 1, description="trade")
        words = w.HTML(self.describe())
        student = w.Dropdown(options=self.students, description="student")
        out = w.Output()

        def scrub(change: Any) -> None:
            self.index = change["new"]
            words.value = self.describe()
            fig.layout.shapes = [
                {
                    "type": "line",
                    "x0": self.index,
                    "x1": self.index,
                    "yref": "paper",
                    "y0": 0,
                    "y1": 1,
                }
            ]

        def open_run(_b: Any) -> None:
            out.clear_output()
            with out:
                from IPython.display import display

                display(self.open(student.value))  # type: ignore[no-untyped-call]

        slider.observe(scrub, "value")
        button = w.Button(description="open this run")
        button.on_click(open_run)
        scrub({"new": self.index})
        return w.VBox([fig, slider, words, w.HBox([student, button]), out])

    @property
    def widget(self) -> Any:
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"ClassReplay({len(self.students)} students, {len(self.trades)} trades)"


class _Row(NamedTuple):
    seq: int
    ts: int
    product_id: str | None
    kind: str
    type: str
    obj: Any


class StudentJournal:
    """One student's recorded session as a journal the single-run `Replay` reads: each
    request as a command and the exchange's answer, each fill as a fill, the stop and
    position reports those make, and the trade before each of them as its step."""

    def __init__(self, events: Iterable[dict[str, Any]], student: str) -> None:
        self.student = student
        self.rows: list[_Row] = list(self._rows(events))

    def products(self) -> list[str]:
        return sorted({r.product_id for r in self.rows if r.product_id})

    def journal_objects(self, product_id: str | None = None, **_: Any) -> list[_Row]:
        return [r for r in self.rows if product_id is None or r.product_id == product_id]

    def _rows(self, events: Iterable[dict[str, Any]]) -> Iterator[_Row]:
        seq = 0
        last: MarketTrade | None = None
        shown: MarketTrade | None = None
        orders: dict[str, tuple[str, str, Decimal, Decimal | None]] = {}  # oid -> coid, role...
        held, cost, fees = ZERO, ZERO, ZERO
        trigger: Decimal | None = None

        def row(kind: str, obj: Any, ts: int) -> _Row:
            nonlocal seq
            seq += 1
            pid = getattr(obj, "product_id", None) or (last.product_id if last else None)
            return _Row(seq, ts, pid, kind, type(obj).__name__, obj)

        for ev in _session(events):
            if ev["kind"] == "trade":
                last = _trade(ev)
                continue
            if ev.get("student") != self.student or last is None:
                continue
            ts = int(ev["ts"])
            if shown is not last:  # the market's step this happened in
                shown = last
                yield row("event", last, last.ts)
            kind = ev["kind"]
            if kind == "order":
                a = ev["args"]
                coid, pid = ev["client_order_id"], a.get("product_id", last.product_id)
                cmd: Any
                if ev["call"] == "place_stop_limit":
                    cmd = PlaceStopLimitSell(
                        coid,
                        pid,
                        Decimal(a["size"]),
                        Decimal(a["stop_price"]),
                        Decimal(a["limit_price"]),
                        ts,
                    )
                elif ev["call"] == "place_limit_buy":
                    cmd = PlaceLimitBuy(
                        coid, pid, Decimal(a["size"]), Decimal(a["limit_price"]), ts
                    )
                elif ev["call"] == "place_limit_sell":
                    cmd = PlaceLimitSell(
                        coid, pid, Decimal(a["size"]), Decimal(a["limit_price"]), ts
                    )
                else:
                    continue  # market and IOC orders: their fills tell
                yield row("command", cmd, ts)
                if not ev["success"]:
                    yield row(
                        "event", OrderRejected(coid, ev["failure_reason"] or "refused", ts), ts
                    )
                    continue
                orders[ev["order_id"]] = (coid, ev["call"], Decimal(a["size"]), None)
                yield row("event", OrderAccepted(coid, ev["order_id"], ts), ts)
                if isinstance(cmd, PlaceStopLimitSell):
                    report = StopMoved(
                        pid, trigger, cmd.stop_price, cmd.limit_price, last.price, last.price, ts
                    )
                    trigger = cmd.stop_price
                    yield row("report", report, ts)
            elif kind == "cancel" and ev["order_id"] in orders:
                coid = orders[ev["order_id"]][0]
                yield row(
                    "command", CancelOrder(coid, ev["order_id"], CancelReason.STOP_MOVE, ts), ts
                )
                if ev["success"]:
                    yield row(
                        "event",
                        OrderStatusReport(coid, OrderStatus.CANCELLED, ts, ev["order_id"]),
                        ts,
                    )
            elif kind == "fill" and ev["order_id"] in orders:
                coid = orders[ev["order_id"]][0]
                size, price = Decimal(ev["size"]), Decimal(ev["price"])
                fee = Decimal(ev["commission"])
                yield row("event", OrderFilled(coid, f"{ev['seq']}", price, size, fee, ts), ts)
                fees += fee
                if ev["side"] == "BUY":
                    was, held, cost = held, held + size, cost + size * price
                    if was == 0:
                        yield row("report", PositionOpened(last.product_id, size, price, ts), ts)
                else:
                    entry = cost / held if held else ZERO
                    held -= size
                    if held <= 0:
                        pnl = size * (price - entry) - fees
                        yield row(
                            "report",
                            PositionClosed(last.product_id, size, entry, price, fees, pnl, ts),
                            ts,
                        )
                        held, cost, fees, trigger = ZERO, ZERO, ZERO, None


def _trade(ev: dict[str, Any]) -> MarketTrade:
    return MarketTrade(
        ev["product_id"],
        Decimal(ev["price"]),
        Decimal(ev["size"]),
        int(ev["ts"]),
        str(ev["trade_id"]),
    )
