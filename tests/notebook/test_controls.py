"""The stepper panel, driven the way a test (or a cell) can: `button.click()`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers.nbtools import FakeClock, require

from tradekit import format as fmt
from tradekit.core.events import OrderFilled
from tradekit.core.money import round_down
from tradekit.core.reports import StopMoved

require("ipywidgets", "plotly", "anywidget")

from tradekit.notebook.controls import EngineStepper, demo_engine_factory, retune  # noqa: E402


@pytest.fixture
def stepper():
    return EngineStepper(demo_engine_factory(), seed=7, clock=FakeClock())


def _notes(engine):
    return [r["payload"] for r in engine.store.journal(kinds="note")]


def test_buttons_change_the_status_line(stepper):
    before = stepper.status.value
    assert "cursor 0" in stepper.status_text()
    stepper.step_button.click()
    assert stepper.engine.cursor == 1
    assert stepper.status.value != before and "cursor 1" in stepper.status.value
    assert stepper.message.startswith("step: MarketTrade")

    stepper.n_input.value = 50
    stepper.step_n_button.click()
    assert stepper.engine.cursor == 51
    assert "cursor 51" in stepper.status.value

    stepper.fill_button.click()
    assert isinstance(stepper.last_result.event, OrderFilled)
    assert "phase in_position" in stepper.status.value
    pos = stepper.engine.decision.position
    spec = stepper.engine.decision.product  # at the product's increment, for people
    shown = f"stop {fmt.price(pos.stop_trigger, spec)} / {fmt.price(pos.stop_limit, spec)}"
    assert shown in stepper.status.value

    stepper.move_button.click()
    assert any(isinstance(r, StopMoved) for r in stepper.last_result.reports)
    assert stepper.errors.outputs == ()


def test_reset_builds_a_new_engine_with_the_seed_in_the_box(stepper):
    stepper.n_input.value = 200
    stepper.step_n_button.click()
    old = stepper.engine
    stepper.seed_input.value = 3
    stepper.reset_button.click()
    assert stepper.engine is not old
    assert stepper.engine.cursor == 0 and stepper.seed == 3
    assert "seed 3" in stepper.status.value and "cursor 0" in stepper.status.value
    assert stepper.chart.points == 0


def test_an_exception_in_a_callback_shows_in_the_error_area(stepper):
    def broken():
        raise RuntimeError("the exchange caught fire")

    stepper.engine.step = broken
    stepper.step_button.click()  # must not raise out of the callback
    text = "".join(o.get("text", "") for o in stepper.errors.outputs)
    assert "RuntimeError: the exchange caught fire" in text and "Traceback" in text
    assert isinstance(stepper.last_error, RuntimeError)
    assert "error: RuntimeError" in stepper.status.value
    # a bad N is an error too, shown the same way
    stepper.clear_errors()
    stepper.n_input.value = 0
    stepper.step_n_button.click()
    assert "N must be at least 1" in "".join(o["text"] for o in stepper.errors.outputs)


def test_a_slider_change_is_journaled_and_applies_to_the_next_decision(stepper):
    stepper.fill_button.click()
    stepper.move_button.click()
    engine = stepper.engine
    pos = engine.decision.position
    trigger = pos.stop_trigger

    stepper.trail_pct.value = 0.005  # tighter: the next new high raises the stop
    assert engine.decision.params.trail.trail_pct == Decimal("0.005")
    assert engine.decision.position.params.trail_pct == Decimal("0.005")
    assert engine.decision.position.stop_trigger == trigger  # nothing moves by itself
    assert engine.decision.position.highest == pos.highest
    note = _notes(engine)[-1]
    assert note["change"] == "trail_params"
    assert note["old"]["trail_pct"] == "0.015" and note["new"]["trail_pct"] == "0.005"
    assert note["position_open"] is True and note["stop_trigger"] == str(trigger)

    stepper.move_button.click()
    moved = next(r for r in stepper.last_result.reports if isinstance(r, StopMoved))
    assert moved.old_trigger == trigger
    assert moved.trigger == round_down(moved.highest * Decimal("0.995"), Decimal("0.01"))


def test_a_wider_trail_never_moves_the_stop_down(stepper):
    stepper.fill_button.click()
    engine = stepper.engine
    trigger = engine.decision.position.stop_trigger
    stepper.trail_pct.value = 0.05
    stepper.min_ratchet.value = 0.0
    assert engine.decision.params.trail.min_ratchet == Decimal(0)
    assert len(_notes(engine)) == 2
    floor = trigger
    for _ in range(3000):
        result = engine.step()
        for r in result.reports:
            if isinstance(r, StopMoved) and r.old_trigger is not None:
                assert r.trigger > r.old_trigger >= floor
        pos = engine.decision.position
        if pos is None:
            break
        assert pos.stop_trigger >= floor
        floor = pos.stop_trigger


def test_retune_refuses_floats_and_bad_values_and_changes_nothing():
    engine = demo_engine_factory()(7)
    before = engine.decision.params
    with pytest.raises(TypeError):
        retune(engine, trail_pct=0.02)
    with pytest.raises(ValueError):
        retune(engine, trail_pct=Decimal("1.5"))
    assert engine.decision.params is before
    assert engine.store.journal(kinds="note") == []
    assert retune(engine, trail_pct="0.015") is before.trail  # no change, no note
    assert engine.store.journal(kinds="note") == []


def test_a_bad_slider_value_shows_in_the_error_area(stepper):
    stepper.trail_pct.value = 0.05
    stepper.stop_limit_buffer_pct.max = 1.0
    stepper.stop_limit_buffer_pct.value = 1.0  # not < 1: TrailParams refuses it
    assert isinstance(stepper.last_error, ValueError)
    assert "stop_limit_buffer_pct" in "".join(o["text"] for o in stepper.errors.outputs)
    assert stepper.engine.decision.params.trail.stop_limit_buffer_pct == Decimal("0.005")
    assert stepper.stop_limit_buffer_pct.value == pytest.approx(0.005)  # put back
    assert stepper.engine.decision.params.trail.trail_pct == Decimal("0.05")


def test_a_long_run_uses_the_progress_bar(stepper):
    stepper.progress_after = 100
    stepper.n_input.value = 1000
    stepper.step_n_button.click()
    assert stepper.progress.max == 1000 and stepper.progress.value == 1000
    assert stepper.progress.layout.visibility == "hidden"  # shown only while running
    assert 900 < stepper.engine.cursor <= 1000  # 1000 events, most of them trades


def test_set_trail_moves_the_sliders_without_a_second_note(stepper):
    stepper.set_trail(trail_pct="0.02", min_ratchet="0.002")
    assert stepper.trail_pct.value == pytest.approx(0.02)
    assert stepper.min_ratchet.value == pytest.approx(0.002)
    assert len(_notes(stepper.engine)) == 1


def test_the_status_line_names_the_sliders_values():
    require("ipywidgets", "plotly", "anywidget")
    from tradekit.notebook.controls import EngineStepper, demo_engine_factory

    stepper = EngineStepper(demo_engine_factory(ticks=2_000), seed=7)
    stepper.trail_pct.value = 0.025
    stepper.min_ratchet.value = 0.002
    text = stepper.status_text()
    assert f"trail_pct {stepper.trail_pct.value:.3f}" in text  # the readout's digits
    assert f"min_ratchet {stepper.min_ratchet.value:.4f}" in text
