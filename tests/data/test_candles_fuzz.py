"""Candle files and rows, fuzzed: every malformed input is a `CandleFileError` naming the
file and line (a `ValueError`/`TypeError` naming the field for a `Candle` built in code),
never another exception, in bounded time; what is accepted turns into trades whose
Decimals are finite and in range."""

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradekit.data import Candle, CandleFileError, candle_ticks, candles_to_trades, parse_candles

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
S = 1_000_000_000
T0 = 1_704_067_200
HEADERS = ["start,low,high,open,close,volume", "timestamp,open,high,low,close,volume"]
NASTY = [
    "1e999999999", "-1e999999999", "1e30", "1e16", "-100", "0", "-0", "NaN", "Infinity",
    "sNaN", "1e-999999999", "0E-999999999", "0E+999999999", "9" * 41, "1" * 5000, "1_000",
    " 1 ", "\u0663", "\u00b2", "", "x", "1e-30", "1e10", "100000000000", "1704067200.0000000001",
    "2024-01-01T00:00:00", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
    "1969-12-31T23:59:59Z", "\x00", '"', "100.5",
]  # fmt: skip
cells = st.one_of(
    st.sampled_from(NASTY),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.text(max_size=6),
)


def row(start: int, o: str = "100", h: str = "101", lo: str = "99", c: str = "100.5") -> list[str]:
    return [str(start), o, h, lo, c, "10"]


@st.composite
def candle_files(draw: st.DrawFn) -> str:
    """A common-order file of good rows with some cells replaced by nasty ones."""
    n = draw(st.integers(min_value=1, max_value=4))
    rows = [row(T0 + 60 * i) for i in range(n)]
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=n - 1))
        rows[i][draw(st.integers(min_value=0, max_value=5))] = draw(cells)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return draw(st.sampled_from(HEADERS[1:])) + "\n" + out.getvalue()


def check_parsed(text: str) -> None:
    try:
        candles = parse_candles(io.StringIO(text, newline=""), "fuzz.csv")
    except CandleFileError as e:
        assert e.path == "fuzz.csv" and e.line >= 1 and str(e).startswith("fuzz.csv, line ")
        return
    trades = candles_to_trades(candles, "BTC-USD", bar_ns=None if len(candles) > 1 else 60 * S)
    assert len(trades) == 4 * len(candles)
    for t in trades:
        assert t.price.is_finite() and 0 < t.price < Decimal("1e16")
        assert t.size.is_finite() and 0 <= t.size < Decimal("1e16")


@FUZZ
@given(candle_files())
def test_candle_files(text):
    check_parsed(text)


@FUZZ
@given(st.text(max_size=120))
def test_any_text(text):
    check_parsed(text)
    check_parsed(HEADERS[0] + "\n" + text)


@FUZZ
@given(
    st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.sampled_from([T0 * S])),
    st.lists(st.one_of(cells, st.decimals(), st.integers(), st.floats()), min_size=5, max_size=5),
)
def test_candle_rows(start, values):
    try:
        candle = Candle(start, *values)
    except (ValueError, TypeError) as e:
        assert str(e)
        return
    for t in candle_ticks(candle, "BTC-USD", 60 * S):
        assert t.price.is_finite() and t.size.is_finite()


# -- regressions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "fragment"),
    [
        ("1e30", "volume '1e30' is out of range"),  # was InvalidOperation in candle_ticks
        ("1e999999999", "volume '1e999999999' is out of range"),
        ("1" * 41, "more than 40 digits"),
        ("1" * 200, "too long for a number"),
    ],
)
def test_huge_volume_is_a_candle_file_error(volume, fragment):
    text = f"{HEADERS[1]}\n{T0},100,101,99,100.5,10\n{T0 + 60},100,101,99,100.5,{volume}\n"
    with pytest.raises(CandleFileError, match=fragment) as info:
        parse_candles(io.StringIO(text), "big.csv")
    assert (info.value.path, info.value.line) == ("big.csv", 3)


@pytest.mark.parametrize(
    ("time", "fragment"),
    [
        ("1e-999999999", "finer than a nanosecond"),
        ("0001-01-01T00:00:00+23:59", "not between 1970 and year 5138"),
        ("1969-12-31T23:59:59Z", "not between 1970 and year 5138"),
        ("9" * 300, "neither unix seconds nor ISO-8601"),
    ],
)
def test_bad_times_are_candle_file_errors(time, fragment):
    text = f"{HEADERS[1]}\n{time},100,101,99,100.5,10\n"
    with pytest.raises(CandleFileError, match=fragment) as info:
        parse_candles(io.StringIO(text), "t.csv")
    assert info.value.line == 2


def test_a_candle_row_in_code_is_bounded_too():
    with pytest.raises(ValueError, match="volume: 1E\\+30 is out of range"):
        Candle(T0 * S, Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal("1e30"))
    with pytest.raises(ValueError, match="start"):
        Candle(-1, Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal(1))
    candle = Candle(T0 * S, Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal(1))
    with pytest.raises(ValueError, match="out of range"):
        candle_ticks(candle, "BTC-USD", 60 * S, Decimal("1e-999999999"))
