"""`PortfolioMonitor`: one widget that keeps watching a running portfolio by itself.

    session = await tradekit.open_session(config)
    session.start()
    PortfolioMonitor(session)          # displayed; the next cells run while it updates

It follows the portfolio from the kernel's own event loop: every step a pair takes is
handed to it (`Portfolio.watch`), buffered, and drawn at most `max_updates_per_s` times
a second (one front-end update of the status table, the feed figures and the charts
together), and a small background task on the same loop redraws what changed without a
step (feed figures, the end of the run). No cell has to run for it to move.

It shows, per pair, the trading state, phase and protection, the last price, the open
size, the stop (trigger and limit) and its distance from the price, the realized and
unrealized P&L; the portfolio's P&L (its equity change); the feed's health; a live
ratchet chart per pair (tabs); and any error of the background run. Its buttons pause
and resume one pair or all, pull the kill switch (after a confirmation, keeping the
stops or flattening) and stop the run. When the portfolio stops, it draws a last time,
says so, and lets go of the portfolio.

ipywidgets and plotly are imported when a monitor is made.
"""

from __future__ import annotations

import asyncio
import functools
import html
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tradekit import format as fmt
from tradekit.engine.portfolio import Portfolio, PortfolioHandle
from tradekit.notebook.charts import LiveRatchetChart

if TYPE_CHECKING:
    from tradekit.app.session import Session

__all__ = ["PortfolioMonitor"]

FEED_FIGURES = (
    ("messages", "feed messages"),
    ("gaps", "sequence gaps"),
    ("duplicates", "duplicates"),
    ("reconnects", "reconnects"),
    ("resyncs", "resyncs"),
)
STATUS_COLUMNS = {
    "product_id": "pair",
    "state": "state",
    "phase": "phase",
    "protection": "protection",
    "last_price": "last",
    "open_size": "held",
    "stop": "stop",
    "stop_limit": "stop limit",
    "stop_distance": "to stop",
    "realized_pnl": "realized",
    "unrealized_pnl": "unrealized",
}
# what fits a notebook's width; the stop's limit is on the stop's hover (and `columns=`)
DEFAULT_COLUMNS = tuple(c for c in STATUS_COLUMNS if c != "stop_limit")
# a feed error stops showing once the feed has run this long with messages since
FAULT_CLEARS_AFTER_S = 3.0
# the charts join the first frame after this long (the tables show at once)
CHARTS_AFTER_S = 0.3
_CELL = "padding:2px 6px;border-bottom:1px solid #e4e4e4;white-space:nowrap;"
_NUM = _CELL + "text-align:right;font-family:monospace;"


@runtime_checkable
class FeedWithStats(Protocol):
    """A feed whose figures the monitor shows (the Coinbase feed's `FeedStats`)."""

    @property
    def stats(self) -> object: ...


@dataclass(frozen=True, slots=True)
class Followed:
    """What a monitor follows, whatever it was given: the portfolio, its handle once
    started, the feed whose figures to show, and the run's mode ("PAPER", "LIVE",
    "SIM" for a Session; "" otherwise)."""

    portfolio: Portfolio
    handle: PortfolioHandle | None = None
    feed: FeedWithStats | None = None
    mode: str = ""

    @classmethod
    def of(cls, target: Session | Portfolio | PortfolioHandle) -> Followed:
        if isinstance(target, Portfolio):
            return cls(target)
        if isinstance(target, PortfolioHandle):
            return cls(target.portfolio, target)
        from tradekit.app.session import Session  # here: the session's imports are heavy

        if isinstance(target, Session):
            return cls(target.portfolio, target.handle, target.feed, target.mode_label)
        raise TypeError(
            f"PortfolioMonitor follows a Session, a Portfolio or a PortfolioHandle, "
            f"not {type(target).__name__}"
        )


class PortfolioMonitor:
    """A live dashboard of a running portfolio. See the module docstring.

    `target`: a `Session` (from `open_session`), a `Portfolio` or a `PortfolioHandle`.
    `feed`: the feed whose `stats` to show (a Session's own by default). `columns`: the
    status table's columns (keys of `STATUS_COLUMNS`; the stop limit is left out by
    default, and shown on the stop's hover).
    `clock` (seconds) and `start=False` are for tests: with a clock the test moves, the
    throttle is exact; without the background task nothing redraws but `refresh()`.
    """

    def __init__(
        self,
        target: Session | Portfolio | PortfolioHandle,
        *,
        max_updates_per_s: float = 2.0,
        max_points: int = 1500,
        chart_height: int = 360,
        flatten_offset_pct: Decimal = Decimal("0.005"),
        feed: FeedWithStats | None = None,
        columns: tuple[str, ...] | list[str] = DEFAULT_COLUMNS,
        clock: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        unknown = [c for c in columns if c not in STATUS_COLUMNS]
        if unknown:
            raise ValueError(f"unknown columns {unknown}: choose from {list(STATUS_COLUMNS)}")
        self.columns = tuple(columns)
        if max_updates_per_s <= 0:
            raise ValueError(f"max_updates_per_s must be positive, got {max_updates_per_s}")
        followed = Followed.of(target)
        self.portfolio, self.handle = followed.portfolio, followed.handle
        # "PAPER" / "LIVE" / "SIM" when following a Session: said first in the header
        self.mode = followed.mode
        self.feed = feed if feed is not None else followed.feed
        self.max_updates_per_s = max_updates_per_s
        self._interval = 1.0 / max_updates_per_s
        self._clock = clock
        self.flatten_offset_pct = flatten_offset_pct
        self.frontend_updates = 0
        self.steps_seen = 0
        self.closed = False
        self.errors: list[str] = []
        self._dirty = True
        self._last_render = float("-inf")
        self._fault_key: tuple[str, int, int] | None = None
        self._fault_since = 0.0
        self._fault_messages = 0
        self._task: asyncio.Task[None] | None = None
        # the charts' FigureWidgets come a moment after the first frame (`_show_charts`):
        # the browser loads Plotly for them, and the tables should not wait for it
        self.charts = {
            pid: LiveRatchetChart(
                driver, max_points=max_points, clock=clock, height=chart_height, lazy=start
            )
            for pid, driver in self.portfolio.drivers.items()
        }
        self._build()
        self._unwatch: Callable[[], None] | None = self.portfolio.watch(self._on_step)
        task = self.portfolio.task
        if task is not None:  # closes the moment the run ends (the loop also checks)
            task.add_done_callback(lambda _t: self._closing())
        self.refresh()
        if start:
            loop = asyncio.get_running_loop()
            loop.call_later(CHARTS_AFTER_S, self._show_charts)
            self._task = loop.create_task(self._follow(), name="tradekit-monitor")
        else:
            self._show_charts()

    # -- the widgets -------------------------------------------------------------------

    def _build(self) -> None:
        import ipywidgets as w

        self._w = w
        pids = list(self.portfolio.drivers)
        self.header = w.HTML(layout=w.Layout(width="100%"))
        self.header.add_class("tradekit-monitor-header")
        self.status_html = w.HTML(layout=w.Layout(width="100%", overflow="auto"))
        self.status_html.add_class("tradekit-monitor-status")
        self.feed_html = w.HTML()
        self.feed_html.add_class("tradekit-monitor-feed")
        self.error_area = w.HTML()
        self.error_area.add_class("tradekit-monitor-errors")

        self.pair_buttons: dict[str, Any] = {}
        for pid in pids:
            b = w.Button(description=f"pause {pid}", layout=w.Layout(width="auto"))
            b.add_class("tradekit-pause-pair")
            b.on_click(self._guard(functools.partial(self._toggle_pair_button, pid)))
            self.pair_buttons[pid] = b
        self.pause_all_button = w.Button(description="pause all", layout=w.Layout(width="auto"))
        self.pause_all_button.on_click(self._guard(lambda _b: self.portfolio.pause_all()))
        self.resume_all_button = w.Button(description="resume all", layout=w.Layout(width="auto"))
        self.resume_all_button.on_click(self._guard(lambda _b: self.portfolio.resume_all()))
        self.kill_button = w.Button(
            description="kill switch…", button_style="danger", layout=w.Layout(width="auto")
        )
        self.kill_button.add_class("tradekit-kill")
        self.kill_button.on_click(self._guard(lambda _b: self._ask_kill()))
        self.stop_button = w.Button(description="stop", layout=w.Layout(width="auto"))
        self.stop_button.add_class("tradekit-stop")
        self.stop_button.on_click(self._guard(lambda _b: self.stop()))

        self.kill_choice = w.RadioButtons(
            options=[("keep the stops in place", "keep"), ("flatten every position", "flatten")],
            value="keep",
            layout=w.Layout(width="auto"),
        )
        self.kill_confirm = w.Button(description="confirm kill", button_style="danger")
        self.kill_confirm.add_class("tradekit-kill-confirm")
        self.kill_confirm.on_click(self._guard(lambda _b: self._confirm_kill()))
        self.kill_cancel = w.Button(description="cancel")
        self.kill_cancel.on_click(self._guard(lambda _b: self._hide_kill()))
        self.kill_box = w.VBox(
            [
                w.HTML(
                    "<b>Kill switch</b>: cancel every working entry and allow no new one, "
                    "on every pair."
                ),
                self.kill_choice,
                w.HBox([self.kill_confirm, self.kill_cancel]),
            ],
            layout=w.Layout(display="none", border="1px solid #d62728", padding="4px"),
        )
        self.kill_box.add_class("tradekit-kill-box")

        self._charts_shown = False
        self.tabs = w.Tab(
            children=[
                w.HTML(f"<i style='color:#777'>the {pid} chart is on its way…</i>") for pid in pids
            ]
        )
        for i, pid in enumerate(pids):
            self.tabs.set_title(i, pid)
        self._pids = pids
        # only the chart on show is sent to the browser; another one catches up when its
        # tab is chosen (three charts of thousands of points cost the kernel's loop)
        self.tabs.observe(lambda _change: self._flush_shown(), "selected_index")
        controls = w.VBox(
            [
                w.HBox([*self.pair_buttons.values()], layout=w.Layout(flex_flow="row wrap")),
                w.HBox(
                    [
                        self.pause_all_button,
                        self.resume_all_button,
                        self.kill_button,
                        self.stop_button,
                    ],
                    layout=w.Layout(flex_flow="row wrap"),
                ),
                self.kill_box,
            ]
        )
        self.panel = w.VBox(
            [
                self.header,
                self.status_html,
                self.feed_html,
                controls,
                self.error_area,
                self.tabs,
            ],
            layout=w.Layout(width="100%"),
        )
        self.panel.add_class("tradekit-monitor")

    def _show_charts(self) -> None:
        """Put the live charts in their tabs (until then, a line saying they come)."""
        if self._charts_shown:
            return
        self._charts_shown = True
        self.tabs.children = [self.charts[pid].widget for pid in self._pids]
        for i, pid in enumerate(self._pids):
            self.tabs.set_title(i, pid)
        self._flush_shown()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.panel._repr_mimebundle_(**kwargs)

    # -- controls ----------------------------------------------------------------------

    def _guard(self, action: Callable[[Any], object]) -> Callable[[Any], None]:
        """A button's action; an error (e.g. a control on a stopped run) is shown."""

        def run(button: Any) -> None:
            try:
                action(button)
            except Exception as exc:
                self._error(f"{type(exc).__name__}: {exc}")
            self._dirty = True
            self.refresh()

        return run

    def _toggle_pair_button(self, product_id: str, _button: Any) -> None:
        self._toggle_pair(product_id)

    def _toggle_pair(self, product_id: str) -> None:
        state = self.portfolio.drivers[product_id].decision.trading_state.value
        if state == "PAUSED":
            self.portfolio.resume(product_id)
        else:
            self.portfolio.pause(product_id)

    def _ask_kill(self) -> None:
        self.kill_box.layout.display = "flex"

    def _hide_kill(self) -> None:
        self.kill_box.layout.display = "none"

    def _confirm_kill(self) -> None:
        flatten = self.kill_choice.value == "flatten"
        self.kill(flatten=flatten)
        self._hide_kill()

    def kill(self, *, flatten: bool = False) -> None:
        """The kill switch (what the confirmed button does)."""
        offset = self.flatten_offset_pct if flatten else None
        reason = "kill switch (flatten)" if flatten else "kill switch"
        self.portfolio.kill(reason, flatten_offset_pct=offset)

    def stop(self) -> asyncio.Task[None]:
        """Stop the portfolio (its stops stay on the exchange); returns the task."""
        return asyncio.get_running_loop().create_task(self.portfolio.stop())

    # -- following -----------------------------------------------------------------------

    def _on_step(self, product_id: str, result: Any) -> None:
        """Called by the portfolio after every step: buffer, and draw when due."""
        self.steps_seen += 1
        chart = self.charts.get(product_id)
        if chart is not None:
            chart.take(result)
        self._dirty = True
        self._maybe_render()

    def _maybe_render(self) -> None:
        now = self._clock()
        if now - self._last_render >= self._interval:
            self._render(now)

    def refresh(self) -> None:
        """Draw now, whatever the throttle says (a control's effect shows at once)."""
        self._render(self._clock())

    async def _follow(self) -> None:
        """The background task: redraw what changed without a step (feed figures,
        controls, the end of the run), and close when the portfolio stops."""
        try:
            while not self._ended():
                await asyncio.sleep(self._interval)
                self._dirty = True
                self._maybe_render()
            self.close()
        except asyncio.CancelledError:
            raise
        except Exception:
            self._error(traceback.format_exc())

    def _closing(self) -> None:
        try:
            self.close()
        except Exception:
            self._error(traceback.format_exc())

    def _ended(self) -> bool:
        task = self.portfolio.task
        return task is not None and task.done()

    def close(self) -> None:
        """Draw a last time, say that the run ended (and why), let go of the portfolio."""
        if self.closed:
            return
        self.closed = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        task = self.portfolio.task
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
                self._error("the portfolio stopped on an error:\n" + "".join(lines))
        for b in (
            *self.pair_buttons.values(),
            self.pause_all_button,
            self.resume_all_button,
            self.kill_button,
            self.stop_button,
            self.kill_confirm,
        ):
            b.disabled = True
        self._hide_kill()
        self._dirty = True
        self.refresh()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def _error(self, text: str) -> None:
        self.errors.append(text)
        shown = "".join(
            f"<pre style='color:#b00;white-space:pre-wrap;margin:2px 0'>{html.escape(t)}</pre>"
            for t in self.errors[-5:]
        )
        self.error_area.value = shown

    # -- drawing -------------------------------------------------------------------------

    def _render(self, now: float) -> None:
        if not self._dirty:
            return
        rows = self.portfolio.status()
        status_html = _status_table(rows, self.columns)
        # one front-end update: the tables, the buttons' labels, the charts (each chart
        # sends its traces in one batch, and only if it has something new)
        self.header.value = self._header(rows)
        self.status_html.value = status_html
        self.feed_html.value = self._feed_figures()
        for pid, b in self.pair_buttons.items():
            paused = self.portfolio.drivers[pid].decision.trading_state.value == "PAUSED"
            b.description = f"resume {pid}" if paused else f"pause {pid}"
        self._flush_shown(now)
        self.frontend_updates += 1
        self._last_render = now
        self._dirty = False

    def _flush_shown(self, now: float | None = None) -> None:
        index = self.tabs.selected_index
        if index is not None and 0 <= index < len(self._pids):
            self.charts[self._pids[index]].flush(self._clock() if now is None else now)

    def _header(self, rows: list[dict[str, Any]]) -> str:
        realized = sum((r["realized_pnl"] for r in rows), Decimal(0))
        unrealized = sum((r["unrealized_pnl"] or Decimal(0) for r in rows), Decimal(0))
        quote = _quote_of(rows)
        last_ts = max((r["last_ts"] or 0 for r in rows), default=0) or None
        if self.closed:
            state = "<b style='color:#7b3294'>stopped</b>: the portfolio is no longer running"
        elif self._ended():
            state = "<b>stopping</b>"
        elif self.portfolio.started:
            state = "<b style='color:#2ca02c'>running</b>"
        else:
            state = "<b>starting</b> (recovering the pairs)"
        stats = self.portfolio.stats
        badge = ""
        if self.mode:
            color = {"PAPER": "#1f77b4", "LIVE": "#d62728"}.get(self.mode, "#555")
            badge = (
                f"<b class='tradekit-mode' style='color:white;background:{color};"
                f"padding:0 6px;border-radius:3px'>{self.mode}</b> "
            )
        return (
            f"<div style='font-size:13px'>{badge}{state} · market time {fmt.timestamp(last_ts)}"
            f" · {fmt.count(stats.messages, 'event')} handled,"
            f" {fmt.count(stats.commands, 'command')} sent</div>"
            f"<div style='font-size:13px'>P&amp;L "
            f"<b>{fmt.signed_money(realized + unrealized, quote)}</b>"
            f" = realized {fmt.signed_money(realized)}"
            f" + unrealized {fmt.signed_money(unrealized)} (fees included)</div>"
        )

    def _feed_trouble(self, stats: Any) -> str:
        """The feed's last error while it is current ("" once it has ended): shown from
        the moment it (or the reconnect count) changes until the feed has run cleanly
        for `FAULT_CLEARS_AFTER_S` seconds with new messages since."""
        error = str(getattr(stats, "last_error", "") or "")
        if not error:
            return ""
        key = (error, getattr(stats, "reconnects", 0), getattr(stats, "resyncs", 0))
        now = self._clock()
        if key != self._fault_key:
            self._fault_key = key
            self._fault_since = now
            self._fault_messages = getattr(stats, "messages", 0)
        quiet_for = now - self._fault_since
        flowing = getattr(stats, "messages", 0) > self._fault_messages
        if quiet_for >= FAULT_CLEARS_AFTER_S and flowing:
            return ""
        return error

    def _feed_figures(self) -> str:
        parts = []
        stats = self.feed.stats if self.feed is not None else None
        if stats is not None:
            parts += [f"{label} {getattr(stats, name, 0):,}" for name, label in FEED_FIGURES]
        parts.append(f"REST polls {self.portfolio.stats.polls:,}")
        trouble = self._feed_trouble(stats) if stats is not None else ""
        out = f"<div style='font-size:12px;color:#444'>feed: {' · '.join(parts)}</div>"
        if trouble:
            short = trouble if len(trouble) <= 160 else trouble[:159].rsplit(" ", 1)[0] + " …"
            out += (
                "<div class='tradekit-feed-trouble' style='font-size:12px;color:#a40000'"
                f" title='{html.escape(trouble, quote=True)}'>feed trouble now: "
                f"{html.escape(short)}</div>"
            )
        degraded = degraded_pairs(self.portfolio)
        if degraded:
            out += (
                "<div style='font-size:12px;color:#a40000'>degraded (stops left in place, "
                f"retrying): {html.escape(degraded)}</div>"
            )
        return out


def degraded_pairs(portfolio: Portfolio) -> str:
    """The pairs the exchange is not answering for, and why, in one line ("" = none)."""
    health = portfolio.health
    return "; ".join(f"{pid}: {h.degraded[:80]}" for pid, h in health.items() if h.degraded)


def _quote_of(rows: list[dict[str, Any]]) -> str:
    quotes = {str(r["product_id"]).split("-", 1)[-1] for r in rows}
    return quotes.pop() if len(quotes) == 1 else ""


def _status_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    head = "".join(f"<th style='{_CELL}text-align:left'>{STATUS_COLUMNS[c]}</th>" for c in columns)
    body = []
    for r in rows:
        product = r["product"]
        cells = {
            "product_id": html.escape(r["product_id"]),
            "state": r["state"].lower(),
            "phase": r["phase"].replace("_", " "),
            "protection": r["protection"],
            "last_price": fmt.price(r["last_price"], product),
            "open_size": fmt.size(r["open_size"], product),
            "stop": fmt.price(r["stop"], product),
            "stop_limit": fmt.price(r["stop_limit"], product),
            "stop_distance": fmt.pct(r["stop_distance"]),
            "realized_pnl": fmt.signed_money(r["realized_pnl"]),
            "unrealized_pnl": fmt.signed_money(r["unrealized_pnl"]),
        }
        tds = []
        for key in columns:
            value = r.get(key)
            hover = fmt.exact(value) if isinstance(value, Decimal) else ""
            if key == "stop" and value is not None:
                hover = f"trigger {hover}, limit {fmt.exact(r['stop_limit'])}"
            exact = f" title='{html.escape(hover, quote=True)}'" if hover else ""
            style = _NUM if isinstance(value, Decimal) else _CELL
            tds.append(f"<td style='{style}'{exact} data-col='{key}'>{cells[key]}</td>")
        body.append(f"<tr data-pair='{html.escape(r['product_id'])}'>{''.join(tds)}</tr>")
    return (
        "<table style='border-collapse:collapse;font-size:12px'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
