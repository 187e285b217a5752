"""EnterOnce: one signal, at a trade index or time, and it survives snapshot/restore."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradekit.core.entry import EnterOnce, EntryRule


def feed(rule: EnterOnce, prices: list[str], start_ts: int = 0) -> list[D | None]:
    out = []
    for i, p in enumerate(prices):
        rule.observe(D(p), start_ts + i)
        out.append(rule.signal(D(p), start_ts + i))
    return out


def test_signals_once_at_the_index_and_never_again():
    rule = EnterOnce(at_tick=2, offset_pct=D("0.01"))
    assert isinstance(rule, EntryRule)
    assert feed(rule, ["100", "101", "102", "103", "104"]) == [None, None, D("100.98"), None, None]


def test_waits_for_the_time_too():
    rule = EnterOnce(at_ts=13)
    assert feed(rule, ["1", "2", "3", "4", "5"], start_ts=10) == [None, None, None, D(4), None]


def test_snapshot_restore_keeps_its_place():
    rule = EnterOnce(at_tick=3)
    feed(rule, ["1", "2"])
    again = EnterOnce(at_tick=3)
    again.restore(rule.snapshot())
    assert feed(again, ["3", "4", "5"]) == [None, D(4), None]
    fired = EnterOnce()
    fired.restore(again.snapshot())
    assert feed(fired, ["9"]) == [None]


def test_bad_arguments():
    with pytest.raises(ValueError, match="at_tick"):
        EnterOnce(at_tick=-1)
    with pytest.raises(TypeError, match="floats"):
        EnterOnce(offset_pct=0.01)
    with pytest.raises(ValueError, match="offset_pct"):
        EnterOnce(offset_pct=D(1))
