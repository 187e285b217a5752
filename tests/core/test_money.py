from decimal import Decimal

import pytest

from tradekit.core.money import ProductSpec, round_down, round_up, to_decimal

BTC = ProductSpec("BTC-USD", Decimal("0.00000001"), Decimal("0.01"), Decimal("0.0001"))


def test_round_down_and_up_on_the_grid():
    assert round_down(Decimal("123.4567"), Decimal("0.01")) == Decimal("123.45")
    assert round_up(Decimal("123.4501"), Decimal("0.01")) == Decimal("123.46")
    assert round_down(Decimal("123.45"), Decimal("0.01")) == Decimal("123.45")
    assert round_down(Decimal("-0.001"), Decimal("0.01")) == Decimal("-0.01")
    assert round_down(Decimal("7.3"), Decimal("0.5")) == Decimal("7.0")
    assert str(round_down(Decimal("5"), Decimal("0.01"))) == "5.00"


def test_floats_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="price: floats are refused"):
        to_decimal(0.1, "price")
    with pytest.raises(TypeError, match="bool"):
        to_decimal(True, "size")
    with pytest.raises(ValueError, match="not a decimal"):
        to_decimal("abc", "size")
    with pytest.raises(ValueError, match="finite"):
        to_decimal("NaN", "size")
    assert to_decimal("0.1", "x") == Decimal("0.1")
    assert to_decimal(3, "x") == Decimal(3)


def test_product_spec_checks_sizes():
    assert BTC.size_problem(Decimal("0.001")) is None
    assert "below base_min_size" in BTC.size_problem(Decimal("0.00001"))
    assert "not a multiple" in BTC.size_problem(Decimal("0.001000001"))
    assert BTC.price_down(Decimal("100.019")) == Decimal("100.01")
    assert BTC.size_down(Decimal("0.123456789")) == Decimal("0.12345678")
    assert ProductSpec.from_dict(BTC.to_dict()) == BTC
    with pytest.raises(TypeError):
        ProductSpec("X-USD", 0.01, Decimal("0.01"), Decimal("1"))  # type: ignore[arg-type]
