"""ipywidgets controls: step an `ExecutionEngine` by hand, tune its trail, watch it live.

    from tradekit.notebook.controls import EngineStepper, demo_engine_factory
    stepper = EngineStepper(demo_engine_factory(), seed=7)
    stepper                     # the panel: buttons, sliders, status, live chart, errors

Changing the trail while a position is open (`retune`, or the panel's sliders) applies
to the engine's NEXT decision and keeps the ratchet-only rule: the position keeps its
highest price and its stop, and the new parameters only shape the next candidate,
which still has to clear `trigger * (1 + min_ratchet)` to move the stop. So a wider
trail leaves the stop where it is (until the price has risen enough), a tighter one
raises it at the next new high, and the stop never moves down. The change itself sends
nothing to the exchange; it is journaled as a note (`kind='note'`) with the old and the
new values.

ipywidgets is imported when a panel is built, never by `import tradekit`.
"""

from __future__ import annotations

import dataclasses
import html
import time
import traceback
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradekit import format as fmt
from tradekit.core.events import MarketTrade, OrderFilled
from tradekit.core.money import to_decimal
from tradekit.core.position import PositionState, TrailParams
from tradekit.core.reports import StopMoved
from tradekit.notebook.charts import LiveRatchetChart

if TYPE_CHECKING:
    from tradekit.engine.execution import ExecutionEngine, StepResult

__all__ = ["EngineStepper", "demo_engine_factory", "retune"]

_TRAIL_FIELDS = ("trail_pct", "min_ratchet", "stop_limit_buffer_pct")


def retune(
    engine: ExecutionEngine,
    *,
    trail_pct: Decimal | str | int | None = None,
    min_ratchet: Decimal | str | int | None = None,
    stop_limit_buffer_pct: Decimal | str | int | None = None,
) -> TrailParams:
    """Give `engine` new trail parameters from its next decision on; return them.

    The decision engine's `params` (frozen) is replaced by a copy with the new
    `TrailParams`; an open position is rebuilt with them from its own state
    (`PositionState.from_dict`), so its highest price and its stop are kept: the stop
    never moves down (ratchet-only still holds; see the module docstring). The change is
    journaled with `store.note(...)` at the engine's current market time. Floats are
    refused, as everywhere in tradekit; a bad value raises ValueError and changes nothing.
    """
    decision = engine.decision
    old = decision.params.trail
    given = {
        "trail_pct": trail_pct,
        "min_ratchet": min_ratchet,
        "stop_limit_buffer_pct": stop_limit_buffer_pct,
    }
    changes = {k: to_decimal(v, k) for k, v in given.items() if v is not None}
    new = dataclasses.replace(old, **changes)  # TrailParams validates
    if new == old:
        return old
    decision.params = dataclasses.replace(decision.params, trail=new)
    pos = decision.position
    if pos is not None:
        decision.position = PositionState.from_dict(decision.product, new, pos.to_dict())
    changed = [f for f in _TRAIL_FIELDS if getattr(old, f) != getattr(new, f)]
    text = "trail parameters changed (from the next decision on): " + ", ".join(
        f"{f} {getattr(old, f)} -> {getattr(new, f)}" for f in changed
    )
    engine.store.note(
        engine.product_id,
        text,
        decision.last_ts,
        data={
            "change": "trail_params",
            "cursor": engine.cursor,
            "old": {f: str(getattr(old, f)) for f in _TRAIL_FIELDS},
            "new": {f: str(getattr(new, f)) for f in _TRAIL_FIELDS},
            "position_open": pos is not None,
            "stop_trigger": None if pos is None else _opt(pos.stop_trigger),
        },
    )
    return new


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def demo_engine_factory(**setup: Any) -> Callable[[int], ExecutionEngine]:
    """A factory `seed -> ExecutionEngine` on `DemoSetup(seed=seed, **setup)`: a fresh
    paper exchange and an in-memory store each time (a reset starts from scratch)."""
    from tradekit.demo import DemoSetup
    from tradekit.store.sqlite import Store

    def make(seed: int) -> ExecutionEngine:
        demo = DemoSetup(seed=seed, **setup)
        return demo.engine(Store(":memory:"), demo.exchange(), f"step{seed}")

    return make


def _quantized(value: float, step: float) -> Decimal:
    """A slider's float as the Decimal it stands for, on the slider's step grid."""
    return Decimal(repr(value)).quantize(Decimal(repr(step))).normalize()


class EngineStepper:
    """A control panel over one sync engine, with an embedded `LiveRatchetChart`.

    Buttons: "step" (one event), "step N", "run to next fill", "run to next stop move",
    "reset" (a new engine from `engine_factory(seed)`). Sliders for trail_pct,
    min_ratchet and stop_limit_buffer_pct apply to the NEXT decision (`retune`). The
    status line shows cursor, phase, last price, stop and P&L. An exception raised in a
    callback is shown in the error area (`errors`, an Output widget) and kept in
    `last_error`, not lost in the browser console. A run longer than
    `progress_after` steps shows a progress bar. `scan_limit` caps a "run to next ..."
    search (in steps). `chart=False` leaves the live chart (`chart`) out of the panel.
    `clock` (seconds) paces the chart's throttle and the progress bar.

    Every widget is an attribute (`step_button`, `n_input`, `seed_input`, `trail_pct`,
    ...), so a test or a cell can drive the panel: `stepper.step_button.click()`.
    """

    def __init__(
        self,
        engine_factory: Callable[[int], ExecutionEngine],
        *,
        seed: int = 7,
        step_n: int = 100,
        scan_limit: int = 100_000,
        progress_after: int = 500,
        max_updates_per_s: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        chart: bool = True,
    ) -> None:
        import ipywidgets as w

        self.engine_factory = engine_factory
        self.seed = seed
        self.scan_limit = scan_limit
        self.progress_after = progress_after
        self._clock = clock
        self.last_error: BaseException | None = None
        self.last_result: StepResult | None = None
        self.message = "ready"
        self._syncing = False
        self.engine = engine_factory(seed)

        button = w.Layout(width="auto")
        self.step_button = w.Button(description="step", tooltip="one event", layout=button)
        self.step_n_button = w.Button(description="step N", tooltip="N events", layout=button)
        self.n_input = w.IntText(value=step_n, description="N", layout=w.Layout(width="170px"))
        self.fill_button = w.Button(description="run to next fill", layout=button)
        self.move_button = w.Button(description="run to next stop move", layout=button)
        self.reset_button = w.Button(
            description="reset", button_style="warning", tooltip="new engine", layout=button
        )
        self.seed_input = w.IntText(value=seed, description="seed", layout=w.Layout(width="140px"))
        style = {"description_width": "150px"}
        wide = w.Layout(width="460px")
        trail = self.engine.decision.params.trail

        def make_slider(name: str, top: float, step: float, fmt: str) -> Any:
            return w.FloatSlider(
                value=float(getattr(trail, name)),
                min=0.001 if name == "trail_pct" else 0.0,
                max=top,
                step=step,
                readout_format=fmt,
                description=name,
                continuous_update=False,
                style=style,
                layout=wide,
            )

        self.trail_pct = make_slider("trail_pct", 0.1, 0.001, ".3f")
        self.min_ratchet = make_slider("min_ratchet", 0.02, 0.0005, ".4f")
        self.stop_limit_buffer_pct = make_slider("stop_limit_buffer_pct", 0.03, 0.0005, ".4f")
        self.status = w.HTML(layout=w.Layout(min_height="3.2em"))
        self.progress = w.IntProgress(
            value=0, min=0, max=1, description="", layout=w.Layout(visibility="hidden")
        )
        self.errors = w.Output(layout=w.Layout(max_height="240px", overflow="auto"))
        self.chart = LiveRatchetChart(self.engine, max_updates_per_s=max_updates_per_s, clock=clock)

        self.step_button.on_click(self._guard(self.step))
        self.step_n_button.on_click(self._guard(lambda: self.step_n(self.n_input.value)))
        self.fill_button.on_click(self._guard(self.run_to_next_fill))
        self.move_button.on_click(self._guard(self.run_to_next_stop_move))
        self.reset_button.on_click(self._guard(lambda: self.reset(self.seed_input.value)))
        for slider in (self.trail_pct, self.min_ratchet, self.stop_limit_buffer_pct):
            slider.observe(self._guard(self._sliders_changed), names="value")

        controls = w.HBox(
            [
                self.step_button,
                self.step_n_button,
                self.n_input,
                self.fill_button,
                self.move_button,
                self.reset_button,
                self.seed_input,
            ],
            layout=w.Layout(flex_flow="row wrap"),
        )
        sliders = w.VBox([self.trail_pct, self.min_ratchet, self.stop_limit_buffer_pct])
        children = [controls, sliders, self.status, self.progress]
        if chart:
            children.append(self.chart.widget)
        children.append(self.errors)
        self.widget = w.VBox(children)
        # stable hooks for styling and for browser tests
        self.widget.add_class("tradekit-stepper")
        self.status.add_class("tradekit-status")
        self.errors.add_class("tradekit-errors")
        self.refresh()

    # -- display -----------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _guard(self, action: Callable[[], object]) -> Callable[..., None]:
        """Wrap a callback: an exception goes to the error area and the status line."""

        def callback(*_: object) -> None:
            try:
                action()
            except Exception as exc:
                self.last_error = exc
                self.errors.append_stderr(traceback.format_exc())
                self.message = f"error: {type(exc).__name__}: {exc} (details below)"
                try:
                    self.refresh()
                except Exception:  # the status itself failed: keep the first error shown
                    self.errors.append_stderr(traceback.format_exc())

        return callback

    def clear_errors(self) -> None:
        self.errors.outputs = ()
        self.last_error = None

    def status_text(self) -> str:
        """The status line as plain text (what `status` shows)."""
        e = self.engine
        d = e.decision
        pos = d.position
        parts = [
            f"{e.product_id} seed {self.seed}",
            f"cursor {e.cursor}",
            f"phase {d.phase.value}" + (" (end of data)" if e.finished else ""),
            f"last {fmt.price(d.last_price, d.product)}",
        ]
        if pos is not None:
            stop, limit = pos.stop_trigger, pos.stop_limit
            parts.append(f"stop {fmt.price(stop, d.product)} / {fmt.price(limit, d.product)}")
            parts.append(f"highest {fmt.price(pos.highest, d.product)}")
        else:
            parts.append("stop none")
        realized = e.store.total_realized_pnl(e.product_id)
        pnl = f"P&L realized {fmt.signed_money(realized)}"
        if pos is not None and d.last_price is not None and pos.filled_size:
            open_pnl = pos.open_size * d.last_price - pos.cost * pos.open_size / pos.filled_size
            pnl += f", open {fmt.signed_money(open_pnl)} (before fees)"
        parts.append(pnl)
        t = d.params.trail  # what the sliders set, in their own digits
        parts.append(
            f"trail_pct {t.trail_pct:.3f} min_ratchet {t.min_ratchet:.4f} "
            f"stop_limit_buffer_pct {t.stop_limit_buffer_pct:.4f}"
        )
        return " · ".join(parts)

    def refresh(self) -> None:
        """Redraw the status line from the engine's current state."""
        colour = "#b00020" if self.message.startswith("error") else "#555"
        self.status.value = (
            f"<div style='font-family:monospace'>{html.escape(self.status_text())}</div>"
            f"<div style='color:{colour}'>{html.escape(self.message)}</div>"
        )

    # -- actions -----------------------------------------------------------------------

    def step(self) -> StepResult | None:
        """One event."""
        result = self.engine.step()
        self.chart.update(result)
        self.chart.flush()
        self.last_result = result
        self.message = "end of data" if result is None else "step: " + _describe(result)
        self.refresh()
        return result

    def step_n(self, n: int) -> int:
        """Up to `n` events; returns how many were processed."""
        if n < 1:
            raise ValueError(f"N must be at least 1, got {n}")
        done, _ = self._run(f"step {n}", n, None)
        self.message = f"stepped {done} events" + ("" if done == n else " (end of data)")
        self.refresh()
        return done

    def run_to_next_fill(self) -> StepResult | None:
        """Step until an order fills (an `OrderFilled` event); returns that step."""
        return self._run_until("fill", lambda r: isinstance(r.event, OrderFilled))

    def run_to_next_stop_move(self) -> StepResult | None:
        """Step until the desired stop moves (a `StopMoved` report); returns that step."""
        return self._run_until(
            "stop move", lambda r: any(isinstance(x, StopMoved) for x in r.reports)
        )

    def reset(self, seed: int | None = None) -> None:
        """A fresh engine from the factory (new seed if given); the sliders' current
        values are applied to it (and journaled) when they differ from its own."""
        if seed is not None:
            self.seed = int(seed)
        self.engine = self.engine_factory(self.seed)
        self.clear_errors()
        self.chart.reset(self.engine)
        self.last_result = None
        self._apply_sliders()
        self.message = f"reset with seed {self.seed}"
        self.refresh()

    def set_trail(self, **changes: Decimal | str) -> TrailParams:
        """`retune` the engine and move the sliders to match (without a second note)."""
        new = retune(self.engine, **changes)
        self._sync_sliders()
        self.message = "trail set: " + _trail_text(new)
        self.refresh()
        return new

    # -- internals ---------------------------------------------------------------------

    def _sync_sliders(self) -> None:
        """Show the engine's trail on the sliders (without retuning again)."""
        trail = self.engine.decision.params.trail
        self._syncing = True
        try:
            for name in _TRAIL_FIELDS:
                getattr(self, name).value = float(getattr(trail, name))
        finally:
            self._syncing = False

    def _sliders_changed(self) -> None:
        if self._syncing:
            return
        try:
            new = self._apply_sliders()
        except Exception:
            self._sync_sliders()  # refused: the sliders show what the engine has
            raise
        self.message = "applies to the next decision: " + _trail_text(new)
        self.refresh()

    def _apply_sliders(self) -> TrailParams:
        """Retune with the sliders' values that differ from the engine's (numerically)."""
        current = self.engine.decision.params.trail
        values = {}
        for name in _TRAIL_FIELDS:
            slider = getattr(self, name)
            value = _quantized(slider.value, slider.step)
            if value != getattr(current, name):
                values[name] = value
        return retune(self.engine, **values) if values else current

    def _run_until(self, what: str, found: Callable[[StepResult], bool]) -> StepResult | None:
        done, hit = self._run(f"to next {what}", self.scan_limit, found)
        if hit is not None:
            self.message = f"{what} after {done} events: {_describe(hit)}"
        elif self.engine.finished:
            self.message = f"no {what} before the end of data ({done} events)"
        else:
            self.message = f"no {what} in {done} events (scan_limit)"
        self.refresh()
        return hit

    def _run(
        self, label: str, limit: int, until: Callable[[StepResult], bool] | None
    ) -> tuple[int, StepResult | None]:
        """Step up to `limit` events (stopping at the first one `until` accepts), feeding
        the chart; a progress bar shows for long runs. Returns (events, the hit)."""
        bar = self.progress
        show = limit > self.progress_after
        if show:
            bar.max = limit
            bar.value = 0
            bar.description = label
            bar.layout.visibility = "visible"
        done = 0
        hit: StepResult | None = None
        last_draw = self._clock()
        try:
            step = self.engine.step
            update = self.chart.update
            while done < limit:
                result = step()
                if result is None:
                    break
                done += 1
                update(result)
                self.last_result = result
                if until is not None and until(result):
                    hit = result
                    break
                if show and not done & 255:
                    now = self._clock()
                    if now - last_draw >= 0.1:
                        bar.value = done
                        last_draw = now
        finally:
            self.chart.flush()
            if show:
                bar.value = done
                bar.layout.visibility = "hidden"
        return done, hit


def _trail_text(t: TrailParams) -> str:
    return ", ".join(f"{f} {getattr(t, f)}" for f in _TRAIL_FIELDS)


def _describe(result: StepResult) -> str:
    ev = result.event
    name = type(ev).__name__
    head = f"{name} {ev.price}" if isinstance(ev, MarketTrade) else name
    if isinstance(ev, OrderFilled):
        head += f" {fmt.size(ev.size)} @ {ev.price}"
    tail = [type(c).__name__ for c in result.commands] + [type(r).__name__ for r in result.reports]
    return head + (" → " + ", ".join(tail) if tail else "")
