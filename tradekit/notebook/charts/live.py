"""The live ratchet chart: a FigureWidget that follows an engine (or a portfolio's
pair) step by step, throttled."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from tradekit import format as fmt
from tradekit.core.commands import CancelOrder, PlaceLimitBuy, PlaceStopLimitSell
from tradekit.core.events import MarketTrade, OrderFilled
from tradekit.core.orders import OrderSide
from tradekit.core.reports import PositionClosed, PositionOpened, StopMoved
from tradekit.notebook.charts.looks import (
    ENTRIES,
    EXITS,
    HIGHEST,
    LIMIT,
    MOVES,
    PLACED_MARKER,
    PRICE,
    TRIGGER,
    base_figure,
    fill_hover_text,
    hover_time,
    move_hover_text,
    plotly_objects,
    product_of,
    stop_hover_text,
)
from tradekit.notebook.charts.points import (
    datetimes_of,
    decimate,
    floats_of,
    to_float,
    ts_to_datetime,
)

if TYPE_CHECKING:
    from tradekit.core.decision import DecisionEngine
    from tradekit.engine.execution import ExecutionEngine, StepResult


class ChartedPair(Protocol):
    """What a live chart reads of the pair it draws: an ExecutionEngine, or one of a
    portfolio's pair drivers."""

    @property
    def product_id(self) -> str: ...

    @property
    def decision(self) -> DecisionEngine: ...


class LiveRatchetChart:
    """A `go.FigureWidget` that follows an `ExecutionEngine` step by step.

        chart = LiveRatchetChart()
        display(chart.widget)
        chart.follow(engine, ticks=5000)        # steps the engine, updating the chart
        chart.update(engine.step())             # or feed StepResults yourself

    Front-end updates are throttled: `update()` buffers, and the buffered points go to
    the browser in one `batch_update()` at most `max_updates_per_s` times per second of
    `clock` (injectable, seconds; default `time.monotonic`). `flush()` sends what is
    buffered at once: `follow()` calls it when it returns, and in IPython it also runs
    after each cell. So over T seconds of clock since the chart was made (or reset),
    `frontend_updates <= max_updates_per_s * T + 1` from `update()` and one `flush()`.

    The chart keeps at most about `2 * max_points` price points: older ones are
    decimated like the static chart's, always keeping stop moves and fills.
    """

    def __init__(
        self,
        engine: ChartedPair | None = None,
        *,
        max_updates_per_s: float = 4.0,
        max_points: int = 2000,
        clock: Callable[[], float] = time.monotonic,
        title: str | None = None,
        height: int = 420,
        lazy: bool = False,
    ) -> None:
        if max_updates_per_s <= 0:
            raise ValueError(f"max_updates_per_s must be positive, got {max_updates_per_s}")
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        self.max_updates_per_s = max_updates_per_s
        self.max_points = max_points
        self._interval = 1.0 / max_updates_per_s
        self._clock = clock
        self._title = title
        self.product_id = engine.product_id if engine is not None else None
        self._spec = product_of(self.product_id)
        self._height = height
        self._widget: Any = None
        if not lazy:
            self.widget  # noqa: B018 - built now (lazy: when first asked for)
        self.frontend_updates = 0
        self.steps_seen = 0
        self._clear()
        if engine is not None:
            self.attach(engine)
        _flush_after_each_cell(self)

    @property
    def widget(self) -> Any:
        """The FigureWidget (built on first use when the chart is `lazy`: a monitor shows
        its tables first and its charts a moment later; points are buffered meanwhile)."""
        if self._widget is None:
            quote = self.product_id.split("-", 1)[1] if self.product_id else "quote"
            self._widget = base_figure(
                plotly_objects(), self._title_text(), quote, self._height, True
            )
            self._dirty = True
        return self._widget

    # -- state -------------------------------------------------------------------------

    def _title_text(self) -> str:
        return self._title or f"{self.product_id or ''} live: price, ratchet stop, fills"

    def _clear(self) -> None:
        self._ts: list[int] = []
        self._px: list[Decimal] = []
        self._marked: set[int] = set()  # timestamps that must stay drawn
        self._hx: list[int | None] = []
        self._hy: list[Decimal | None] = []
        self._sx: list[int | None] = []
        self._st: list[Decimal | None] = []
        self._sl: list[Decimal | None] = []
        self._ssize: list[int] = []  # marker sizes on the trigger line (first stops)
        self._entries: list[tuple[int, Decimal, str]] = []
        self._exits: list[tuple[int, Decimal, str]] = []
        self._moves: list[tuple[int, Decimal, str]] = []
        self._buy_ids: set[str] = set()
        self._sell_ids: set[str] = set()
        self._in_position = False
        self._exit_seen = False
        self._high: Decimal | None = None
        self._trigger: Decimal | None = None
        self._limit: Decimal | None = None
        self._last_ts: int | None = None
        self._dirty = False
        self._last_flush = self._clock()
        self._engine: ChartedPair | None = None

    def reset(self, engine: ExecutionEngine | None = None) -> None:
        """Forget everything drawn (and the throttle window); attach `engine` if given."""
        self._clear()
        if engine is not None:
            self.attach(engine)
        self._dirty = True
        self.flush()

    def attach(self, engine: ChartedPair) -> None:
        """Follow `engine` from where it is: an open position's highest and stop are
        drawn from its current state (what happened before is not known to the chart)."""
        self._engine = engine
        self._spec = engine.decision.product
        if self.product_id != engine.product_id:
            self.product_id = engine.product_id
            quote = self.product_id.split("-", 1)[1]
            if self._widget is not None:  # a lazy chart is built with the new title
                with self.widget.batch_update():
                    self.widget.layout.title.text = self._title_text()
                    self.widget.layout.yaxis.title.text = f"price ({quote})"
        d = engine.decision
        pos = d.position
        ts = d.last_ts
        if d.last_price is not None and ts:
            self._add_price(ts, d.last_price)
        if pos is not None and ts:
            self._in_position = True
            self._high = pos.highest
            self._hx.append(ts)
            self._hy.append(pos.highest)
            if pos.stop_trigger is not None and pos.stop_limit is not None:
                self._set_stop(ts, pos.stop_trigger, pos.stop_limit)
        for order in d.orders.values():
            (self._buy_ids if order.side is OrderSide.BUY else self._sell_ids).add(
                order.client_order_id
            )
        self._dirty = True

    @property
    def points(self) -> int:
        """Price points held (after compaction)."""
        return len(self._ts)

    # -- feeding -----------------------------------------------------------------------

    def update(self, result: StepResult | None) -> None:
        """Take in one step's result; the front end is updated when the throttle allows."""
        if result is None:
            return
        self.take(result)
        self._maybe_flush()

    def take(self, result: StepResult) -> None:
        """Take in one step's result without drawing: the caller flushes (a monitor
        that throttles several charts and tables as one)."""
        self.steps_seen += 1
        for cmd in result.commands:
            if isinstance(cmd, PlaceLimitBuy):
                self._buy_ids.add(cmd.client_order_id)
            elif isinstance(cmd, PlaceStopLimitSell):
                self._sell_ids.add(cmd.client_order_id)
            elif isinstance(cmd, CancelOrder) and cmd.then is not None:
                self._sell_ids.add(cmd.then.client_order_id)
        ev = result.event
        if isinstance(ev, MarketTrade):
            self._add_price(ev.ts, ev.price)
            if self._in_position and self._high is not None and ev.price > self._high:
                self._high = ev.price
                self._hx.append(ev.ts)
                self._hy.append(ev.price)
        elif isinstance(ev, OrderFilled):
            self._add_fill(ev)
        for report in result.reports:
            if isinstance(report, PositionOpened):
                self._in_position = True
                self._exit_seen = False
                self._high = report.price
                self._hx.append(report.ts)
                self._hy.append(report.price)
            elif isinstance(report, StopMoved):
                self._marked.add(report.ts)
                if self._high is None or report.highest > self._high:
                    self._high = report.highest
                    self._hx.append(report.ts)
                    self._hy.append(report.highest)
                if report.old_trigger is not None:
                    text = move_hover_text(
                        report.old_trigger,
                        report.trigger,
                        report.limit,
                        report.price,
                        report.highest,
                        self._spec,
                    )
                    self._moves.append((report.ts, report.trigger, text))
                self._set_stop(
                    report.ts, report.trigger, report.limit, first=report.old_trigger is None
                )
            elif isinstance(report, PositionClosed):
                self._close(report)
        self._dirty = True

    def _add_price(self, ts: int, price: Decimal) -> None:
        self._ts.append(ts)
        self._px.append(price)
        self._last_ts = ts
        if len(self._ts) > 2 * self.max_points:
            self._compact()

    def _add_fill(self, ev: OrderFilled) -> None:
        coid = ev.client_order_id
        buy = coid in self._buy_ids
        if not buy and coid not in self._sell_ids:
            engine = self._engine
            order = engine.decision.orders.get(coid) if engine is not None else None
            buy = order.side is OrderSide.BUY if order is not None else not self._in_position
        kind = "entry" if buy else "exit"
        text = fill_hover_text(kind, ev.ts, ev.price, ev.size, ev.fee, coid, self._spec)
        (self._entries if buy else self._exits).append((ev.ts, ev.price, text))
        if not buy:
            self._exit_seen = True
        self._marked.add(ev.ts)
        self._last_ts = max(self._last_ts or ev.ts, ev.ts)

    def _set_stop(self, ts: int, trigger: Decimal, limit: Decimal, first: bool = False) -> None:
        """A stop level from `ts` (its report: the exchange's acknowledgement) on; drawn
        to the next change or the latest trade (`flush`), with a marker if it is the
        position's first, so that it shows even when nothing has traded since."""
        self._trigger, self._limit = trigger, limit
        self._sx.append(ts)
        self._st.append(trigger)
        self._sl.append(limit)
        self._ssize.append(PLACED_MARKER if first else 0)
        self._last_ts = max(self._last_ts or ts, ts)  # an acknowledgement after the trade

    def _close(self, report: PositionClosed) -> None:
        ts = report.ts
        if not self._exit_seen:  # closed without a fill event (a status report booked it)
            avg = fmt.price(report.exit_price, self._spec)
            text = f"exit {hover_time(ts)}<br>average price {avg}"
            self._exits.append((ts, report.exit_price, text))
        pnl = fmt.signed_money(report.realized_pnl)
        text = f"position closed {hover_time(ts)}<br>P&L {pnl} (fees included)"
        if self._exits and self._exits[-1][0] == ts:
            t, p, old = self._exits[-1]
            self._exits[-1] = (t, p, f"{old}<br>{text}")
        if self._trigger is not None and self._limit is not None:
            self._sx += [ts, None]
            self._ssize += [0, 0]
            self._st += [self._trigger, None]
            self._sl += [self._limit, None]
        if self._high is not None:
            self._hx += [ts, None]
            self._hy += [self._high, None]
        self._marked.add(ts)
        self._in_position = False
        self._high = self._trigger = self._limit = None

    def _compact(self) -> None:
        keep = [i for i, t in enumerate(self._ts) if t in self._marked]
        idx = decimate(self._px, self.max_points, keep)
        self._ts = [self._ts[i] for i in idx]
        self._px = [self._px[i] for i in idx]

    # -- to the front end --------------------------------------------------------------

    def _maybe_flush(self) -> None:
        now = self._clock()
        if now - self._last_flush >= self._interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Send what is buffered to the front end now, in one `batch_update()`."""
        if not self._dirty or self._widget is None:
            return
        hx, hy = list(self._hx), list(self._hy)
        sx, st, sl = list(self._sx), list(self._st), list(self._sl)
        sizes = list(self._ssize)
        latest = self._last_ts
        if self._in_position and latest is not None:
            # extend the open position's lines to the latest time
            if self._high is not None:
                hx.append(latest)
                hy.append(self._high)
            if self._trigger is not None and self._limit is not None:
                sx.append(latest)
                sizes.append(0)
                st.append(self._trigger)
                sl.append(self._limit)
        stop_text = [
            None if t is None or y is None or z is None else stop_hover_text(y, z, self._spec)
            for t, y, z in zip(sx, st, sl, strict=True)
        ]
        data = self.widget.data
        with self.widget.batch_update():
            data[PRICE].x = datetimes_of(self._ts)
            data[PRICE].y = floats_of(self._px)
            data[PRICE].text = [fmt.price(p, self._spec) for p in self._px]
            data[HIGHEST].x = datetimes_of(hx)
            data[HIGHEST].y = floats_of(hy)
            data[HIGHEST].text = [
                None if v is None else f"highest {fmt.price(v, self._spec)}" for v in hy
            ]
            data[TRIGGER].x = data[LIMIT].x = datetimes_of(sx)
            data[TRIGGER].y = floats_of(st)
            data[LIMIT].y = floats_of(sl)
            data[TRIGGER].text = data[LIMIT].text = stop_text
            markers = ((ENTRIES, self._entries), (EXITS, self._exits), (MOVES, self._moves))
            for index, rows in markers:
                data[index].x = [ts_to_datetime(t) for t, _, _ in rows]
                data[index].y = [to_float(p) for _, p, _ in rows]
                data[index].text = [text for _, _, text in rows]
        if sizes != list(data[TRIGGER].marker.size or ()):
            # on its own: inside a batch, plotly.py sends one restyle for all traces and
            # resets the other traces' marker sizes to the default
            data[TRIGGER].marker.size = sizes
        self.frontend_updates += 1
        self._last_flush = self._clock() if now is None else now
        self._dirty = False

    # -- driving -----------------------------------------------------------------------

    def follow(
        self,
        engine: ExecutionEngine,
        ticks: int | None = None,
        until_ts: int | None = None,
        max_steps: int | None = None,
    ) -> int:
        """Step `engine` one event at a time, drawing as it goes, until `ticks` more market
        trades, the first trade at or after `until_ts`, `max_steps` steps, or the end of
        the data.

        Returns the number of market trades handled. Uses `engine.step()` (not the fast
        `run()`, which skips quiet ticks and so cannot show them).
        """
        if engine is not self._engine:
            self.attach(engine)
        handled = steps = 0
        try:
            while (ticks is None or handled < ticks) and (max_steps is None or steps < max_steps):
                result = engine.step()
                if result is None:
                    break
                steps += 1
                self.update(result)
                ev = result.event
                if isinstance(ev, MarketTrade):
                    handled += 1
                    if until_ts is not None and ev.ts >= until_ts:
                        break
        finally:
            self.flush()
        return handled

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _flush_after_each_cell(chart: LiveRatchetChart) -> None:
    """In IPython, flush the chart after every cell, so that points fed by a quick loop
    of `update()` calls do not wait for the next one. Holds the chart weakly."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    ip = get_ipython()
    if ip is None:
        return
    ref = weakref.ref(chart)

    def flush(*_: object) -> None:
        target = ref()
        if target is None:
            ip.events.unregister("post_execute", flush)
        else:
            target.flush()
