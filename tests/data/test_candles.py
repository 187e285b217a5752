"""Candle CSV loading, its errors, and the bar -> ticks rule."""

from __future__ import annotations

import pickle
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pytest

from tradekit.core.events import MarketTrade
from tradekit.data import (
    Candle,
    CandleFileError,
    candle_ticks,
    candles_to_trades,
    infer_bar_ns,
    load_candles,
    parse_candles,
)

S = 1_000_000_000
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z

EXPECTED = [
    Candle(T0 * S, Decimal("100.10"), Decimal("101.50"), Decimal("99.00"), Decimal("100.70"),
           Decimal("12.5")),
    Candle((T0 + 60) * S, Decimal("100.70"), Decimal("100.90"), Decimal("100.20"),
           Decimal("100.25"), Decimal("0")),
]  # fmt: skip


def write(tmp_path: Path, text: str, name: str = "candles.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_coinbase_order(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "start,low,high,open,close,volume\n"
        f"{T0},99.00,101.50,100.10,100.70,12.5\n"
        f"{T0 + 60},100.20,100.90,100.70,100.25,0\n",
    )
    assert load_candles(p) == EXPECTED


@pytest.mark.parametrize(
    ("t1", "t2"),
    [
        (str(T0), str(T0 + 60)),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"),
        ("2024-01-01T01:00:00+01:00", "2024-01-01 00:01:00"),  # offset; naive means UTC
        (f"{T0}.000", f"{T0 + 60}"),
    ],
)
def test_common_order(tmp_path: Path, t1: str, t2: str) -> None:
    p = write(
        tmp_path,
        "timestamp,open,high,low,close,volume\n"
        f"{t1},100.10,101.50,99.00,100.70,12.5\n"
        f"{t2},100.70,100.90,100.20,100.25,0\n",
    )
    assert load_candles(p) == EXPECTED


def test_values_keep_their_text_exactly(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "\ufeff Timestamp , OPEN,High,low,close,Volume\r\n"  # BOM, case, spaces, CRLF
        f"{T0},0.10000000,0.3,0.1,0.20000001,1E+3\r\n"
        "\r\n",  # a blank line is ignored
    )
    (c,) = load_candles(p)
    assert str(c.open) == "0.10000000"
    assert c.close == Decimal("0.20000001")
    assert c.volume == 1000
    assert all(type(getattr(c, f)) is Decimal for f in ("open", "high", "low", "close", "volume"))


def test_fractional_unix_seconds(tmp_path: Path) -> None:
    p = write(tmp_path, f"start,low,high,open,close,volume\n{T0}.5,1,1,1,1,1\n")
    assert load_candles(p)[0].start == T0 * S + S // 2


def test_parse_candles_from_lines() -> None:
    lines = ["timestamp,open,high,low,close,volume", f"{T0},1,2,1,2,3"]
    assert parse_candles(lines) == [
        Candle(T0 * S, Decimal(1), Decimal(2), Decimal(1), Decimal(2), Decimal(3))
    ]


HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = f"{T0},100,101,99,100.5,10\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", 1, "empty"),
        ("\n\n", 1, "empty"),
        (HEADER, 1, "no candles"),
        (f"{T0},100,101,99,100.5,10\n", 1, "unrecognised header"),
        ("time,open,high,low,close,volume\n" + GOOD, 1, "unrecognised header"),
        ("timestamp,open,high,low,close\n" + GOOD, 1, "unrecognised header"),
        (HEADER + GOOD + f"{T0 + 60},100,abc,99,100,1\n", 3, "high 'abc' is not a number"),
        (HEADER + GOOD + f"{T0 + 60},100,,99,100,1\n", 3, "high '' is not a number"),
        (HEADER + GOOD + f"{T0 + 60},NaN,101,99,100,1\n", 3, "open 'NaN' is not a finite"),
        (HEADER + f"{T0},100,100.4,99,100.5,10\n", 2, "high 100.4 is below max"),
        (HEADER + f"{T0},100,101,100.2,100.5,10\n", 2, "low 100.2 is above min"),
        (HEADER + f"{T0},100,101,0,100.5,10\n", 2, "prices must be positive"),
        (HEADER + GOOD + GOOD + f"{T0 + 60},100,101,99,100,-1\n", 3, "strictly increasing"),
        (HEADER + GOOD + f"{T0 + 60},100,101,99,100,-1\n", 3, "volume -1 is negative"),
        (HEADER + GOOD + f"{T0 - 60},100,101,99,100,1\n", 3, "newest first"),
        (HEADER + GOOD + f"{T0 + 60},100,101,99,100\n", 3, "expected 6 columns, got 5"),
        (HEADER + GOOD + f"{T0 + 60},100,101,99,100,1,7\n", 3, "expected 6 columns, got 7"),
        (HEADER + f"{T0 * 1000},100,101,99,100.5,10\n", 2, "milliseconds"),
        (HEADER + "2024-13-45T00:00,100,101,99,100.5,10\n", 2, "neither unix seconds nor ISO"),
        (HEADER + "\n" + GOOD + "\n" + GOOD, 5, "does not come after line 3"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    p = write(tmp_path, text, name="bad-candles.csv")
    with pytest.raises(CandleFileError) as info:
        load_candles(p)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == str(p) and err.line == line
    assert str(p) in str(err)
    assert f"line {line}:" in str(err)
    assert fragment in str(err)


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "binary.csv"
    p.write_bytes(HEADER.encode() + b"\xff\xfe\x00garbage\n")
    with pytest.raises(CandleFileError, match=r"binary\.csv"):
        load_candles(p)


def test_candle_file_error_pickles() -> None:
    err = CandleFileError("x.csv", 4, "bad")
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.message, str(again)) == ("x.csv", 4, "bad", str(err))


def test_candle_validates_itself() -> None:
    with pytest.raises(ValueError, match="high"):
        Candle(0, Decimal(2), Decimal(1), Decimal(1), Decimal(1), Decimal(1))
    with pytest.raises(TypeError, match="float"):
        Candle(0, 1.0, Decimal(1), Decimal(1), Decimal(1), Decimal(1))  # type: ignore[arg-type]
    assert Candle(0, 1, 2, 1, "1.5", 0).close == Decimal("1.5")  # type: ignore[arg-type]


# --- the bar -> ticks rule ---------------------------------------------------------------


def test_bar_becomes_open_low_high_close() -> None:
    bar = Candle(T0 * S, Decimal("100"), Decimal("105"), Decimal("95"), Decimal("102"),
                 Decimal("1.00000003"))  # fmt: skip
    ticks = candle_ticks(bar, "BTC-USD", 60 * S)
    assert [t.price for t in ticks] == [Decimal(100), Decimal(95), Decimal(105), Decimal(102)]
    assert [t.ts - T0 * S for t in ticks] == [0, 15 * S, 30 * S, 45 * S]
    assert {t.size for t in ticks} == {Decimal("0.25000000")}  # 1.00000003 / 4 rounded down
    assert {t.product_id for t in ticks} == {"BTC-USD"}
    assert len({t.trade_id for t in ticks}) == 4


def test_low_first_even_when_close_is_the_high() -> None:
    """A rising bar still visits its low before its high: the order never depends on the
    bar's colour, so it is the same rule on every bar."""
    up = Candle(0, Decimal(10), Decimal(12), Decimal(9), Decimal(12), Decimal(4))
    assert [t.price for t in candle_ticks(up, "X-USD", 4)] == [10, 9, 12, 12]


def test_zero_volume_and_coarse_increment() -> None:
    bar = Candle(0, Decimal(10), Decimal(12), Decimal(9), Decimal(11), Decimal(0))
    assert {t.size for t in candle_ticks(bar, "X-USD", 60 * S)} == {Decimal(0)}
    bar = Candle(0, Decimal(10), Decimal(12), Decimal(9), Decimal(11), Decimal("7"))
    sizes = {t.size for t in candle_ticks(bar, "X-USD", 60 * S, Decimal("1"))}
    assert sizes == {Decimal(1)}


def test_bar_too_narrow() -> None:
    with pytest.raises(ValueError, match="bar_ns"):
        candle_ticks(EXPECTED[0], "X-USD", 3)


def _trailing_stop_exit(trades: list[MarketTrade], trail: Decimal) -> Decimal | None:
    """Exit price of a long with a ratchet-only stop `trail` below the highest price."""
    stop = trades[0].price - trail
    for t in trades:
        if t.price <= stop:
            return stop
        stop = max(stop, t.price - trail)
    return None


def test_order_is_pessimistic_for_a_long_trailing_stop() -> None:
    """Low-first exits at the old stop; the opposite order would exit at the raised one."""
    bar = Candle(0, Decimal(100), Decimal(110), Decimal(94), Decimal(104), Decimal(4))
    ticks = candle_ticks(bar, "X-USD", 60 * S)
    high_first = [ticks[0], ticks[2], ticks[1], ticks[3]]
    ours = _trailing_stop_exit(ticks, Decimal(5))
    other = _trailing_stop_exit(high_first, Decimal(5))
    assert ours == Decimal(95) and other == Decimal(105)


def test_candles_to_trades_infers_width_and_keeps_time_order() -> None:
    bars = [
        Candle((T0 + k * 60) * S, Decimal(10), Decimal(12), Decimal(9), Decimal(11), Decimal(8))
        for k in (0, 1, 3, 4)  # one missing bar
    ]
    assert infer_bar_ns(bars) == 60 * S
    trades = candles_to_trades(bars, "X-USD")
    assert len(trades) == 16
    assert all(b.ts > a.ts for a, b in pairwise(trades))
    assert trades[4].ts - trades[3].ts == 15 * S
    assert len({t.trade_id for t in trades}) == 16
    assert candles_to_trades(bars, "X-USD", bar_ns=60 * S) == trades


def test_candles_to_trades_from_file(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "start,low,high,open,close,volume\n"
        f"{T0},99.00,101.50,100.10,100.70,12.5\n"
        f"{T0 + 60},100.20,100.90,100.70,100.25,0\n",
    )
    trades = candles_to_trades(load_candles(p), "BTC-USD")
    assert [str(t.price) for t in trades] == [
        "100.10", "99.00", "101.50", "100.70", "100.70", "100.90", "100.20", "100.25",
    ]  # fmt: skip
    assert [t.size for t in trades[:4]] == [Decimal("3.125")] * 4
    assert all(type(t.price) is Decimal and type(t.size) is Decimal for t in trades)


def test_candles_to_trades_edge_cases() -> None:
    assert candles_to_trades([], "X-USD") == []
    with pytest.raises(ValueError, match="pass bar_ns"):
        candles_to_trades(EXPECTED[:1], "X-USD")
    assert len(candles_to_trades(EXPECTED[:1], "X-USD", bar_ns=60 * S)) == 4
    with pytest.raises(ValueError, match="overlap"):
        candles_to_trades(EXPECTED, "X-USD", bar_ns=120 * S)
