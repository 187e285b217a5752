from decimal import Decimal as D

import pytest

from tradekit.core.money import ProductSpec
from tradekit.core.position import PositionState, TrailParams

BTC = ProductSpec("BTC-USD", D("0.00000001"), D("0.01"), D("0.00000001"))


def make(trail="0.02", buffer="0.005", step="0"):
    return PositionState(BTC, TrailParams(D(trail), D(buffer), D(step)))


def test_first_fill_sets_the_stop_from_the_fill_price():
    pos = make()
    assert pos.add_buy(D("0.5"), D("100.00"), D("0.20"))
    assert pos.highest == D("100.00")
    assert pos.stop_trigger == D("98.00")  # 100 * 0.98
    assert pos.stop_limit == D("97.51")  # 98 * 0.995 = 97.51
    assert pos.entry_price == D("100")


def test_ratchet_only_moves_up_and_rounds_down():
    pos = make()
    pos.add_buy(D("1"), D("100.00"), D("0"))
    assert not pos.ratchet(D("99.00"))  # below the high: nothing
    assert pos.ratchet(D("101.37"))  # 101.37 * 0.98 = 99.3426 -> 99.34
    assert pos.stop_trigger == D("99.34")
    assert pos.stop_limit == D("98.84")  # 99.34 * 0.995 = 98.8433 -> 98.84
    assert not pos.ratchet(D("90"))
    assert pos.stop_trigger == D("99.34")
    assert pos.highest == D("101.37")


def test_min_ratchet_threshold():
    pos = make(step="0.01")  # move only when 1 % above the current trigger
    pos.add_buy(D("1"), D("100.00"), D("0"))  # trigger 98.00
    assert not pos.ratchet(D("100.99"))  # 98.97 <= 98 * 1.01 = 98.98
    assert pos.highest == D("100.99")
    assert not pos.ratchet(D("101.01"))  # 98.9898 -> 98.98, not above 98.98
    assert pos.ratchet(D("101.02"))  # 98.9996 -> 98.99 > 98.98
    assert pos.stop_trigger == D("98.99")


def test_rounded_candidate_equal_to_trigger_does_not_move():
    pos = make()
    pos.add_buy(D("1"), D("100.00"), D("0"))  # 98.00
    assert not pos.ratchet(D("100.01"))  # 98.0098 -> 98.00: no visible change, no move
    assert pos.stop_trigger == D("98.00")


def test_pnl_includes_fees():
    pos = make()
    pos.add_buy(D("2"), D("100"), D("0.80"))
    pos.add_sell(D("2"), D("110"), D("1.32"))
    assert pos.open_size == 0
    assert pos.realized_pnl == D("220") - D("200") - D("2.12")


def test_floats_refused_by_the_ratchet():
    pos = make()
    with pytest.raises(TypeError):
        pos.ratchet(100.5)  # type: ignore[arg-type]


def test_bad_params_refused():
    with pytest.raises(ValueError):
        TrailParams(D("0"), D("0"), D("0"))
    with pytest.raises(ValueError):
        TrailParams(D("0.1"), D("1"), D("0"))
    with pytest.raises(TypeError):
        TrailParams(0.1, D("0"), D("0"))  # type: ignore[arg-type]


def test_round_trip_dict():
    pos = make()
    pos.add_buy(D("1"), D("100.00"), D("0.1"))
    pos.ratchet(D("105"))
    again = PositionState.from_dict(BTC, pos.params, pos.to_dict())
    assert again.to_dict() == pos.to_dict()
