"""tradekit.jsonl: whole lines, torn tails cut off, one writer, strict reading."""

from __future__ import annotations

import os
import pickle
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradekit.core.money import MONEY_CONTEXT
from tradekit.jsonl import (
    JsonlError,
    JsonlFile,
    JsonlLocked,
    complete_lines,
    dumps,
    loads,
    number,
    parse,
    read,
)


def test_append_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    f = JsonlFile(path, durable=True)
    assert f.lines == []
    f.append({"a": 1})
    f.append({"b": "0.00000001"})
    f.close()
    assert path.read_bytes() == b'{"a":1}\n{"b":"0.00000001"}\n'
    assert [(n, parse(raw, path, n)) for n, raw in read(path)] == [
        (1, {"a": 1}),
        (2, {"b": "0.00000001"}),
    ]
    assert [n for n, _ in read(path, start=2)] == [2]
    again = JsonlFile(path)
    assert again.lines == [b'{"a":1}', b'{"b":"0.00000001"}']
    again.close()
    with pytest.raises(ValueError, match="closed"):
        again.append({})


def test_a_torn_last_line_is_not_a_line_and_is_cut_off_by_the_next_writer(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}')  # a crash mid-write: no final newline
    assert [raw for _, raw in read(path)] == [b'{"a":1}']
    assert complete_lines(path.read_bytes()) == [b'{"a":1}']
    f = JsonlFile(path)
    assert f.lines == [b'{"a":1}']
    f.append({"c": 3})
    f.close()
    assert path.read_bytes() == b'{"a":1}\n{"c":3}\n'


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "log.jsonl"
    f = JsonlFile(path, durable=True)
    f.append({"a": 1})

    def broken(fd: int) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk on fire"):
        f.append({"b": 2})
    monkeypatch.undo()
    assert path.read_bytes() == b'{"a":1}\n'
    f.append({"c": 3})
    f.close()
    assert path.read_bytes() == b'{"a":1}\n{"c":3}\n'


def test_one_locked_writer(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    first = JsonlFile(path, lock=True)
    with pytest.raises(JsonlLocked, match="in use"):
        JsonlFile(path, lock=True)
    first.close()
    JsonlFile(path, lock=True).close()


def test_modes(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    JsonlFile(path, mode="x").close()
    with pytest.raises(FileExistsError):
        JsonlFile(path, mode="x")
    path.write_bytes(b'{"a":1}\n')
    JsonlFile(path, mode="w").close()
    assert path.read_bytes() == b""
    assert list(read(tmp_path / "missing.jsonl")) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a":', "malformed JSON"),
        (b"\xff", "malformed JSON"),
        (b"", "malformed JSON"),
        (b"[1]", "expected a JSON object, got list"),
    ],
)
def test_strict_reading_names_file_and_line(raw: bytes, message: str) -> None:
    with pytest.raises(JsonlError, match=message) as info:
        parse(raw, "f.jsonl", 7)
    assert (info.value.path, info.value.line) == ("f.jsonl", 7)
    assert str(info.value).startswith("f.jsonl, line 7: ")
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.path, back.line, back.message) == ("f.jsonl", 7, info.value.message)


def test_dumps_is_one_compact_line_and_refuses_nan() -> None:
    assert dumps({"a": [1, "x"]}) == b'{"a":[1,"x"]}\n'
    with pytest.raises(ValueError):
        dumps({"a": float("nan")})


# -- bounded reading --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,  # was a RecursionError
        b'{"a":' * 100_000,
        b"[" * 33 + b"]" * 33,  # well formed, one level too deep
        b'{"a":NaN}',
        b'{"a":-Infinity}',
        b'{"a":1e999}',  # a float that overflows to infinity
    ],
)
def test_loads_is_bounded(raw: bytes) -> None:
    with pytest.raises(ValueError, match="malformed JSON"):
        loads(raw)
    with pytest.raises(JsonlError, match="malformed JSON") as info:
        parse(raw, "f.jsonl", 3)
    assert info.value.line == 3


def test_loads_keeps_what_is_within_bounds() -> None:
    nested = loads("[" * 32 + "]" * 32)
    for _ in range(31):
        (nested,) = nested
    assert nested == []
    assert loads('{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[","b":1.5}') == {
        "a": "[" * 36,
        "b": 1.5,
    }
    assert loads(b"7") == 7


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1e999999999", "out of range"),  # Decimal() takes it; no quantize ever finishes
        ("-1e999999999", "out of range"),
        ("1e16", "out of range"),
        ("1e-19", "out of range"),
        ("0E-999999999", "out of range"),
        ("1" * 41, "more than 40 digits"),
        ("1" * 101, "too long"),
        ("NaN", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("0x10", "not a number"),
    ],
)
def test_number_refuses_what_money_cannot_be(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        number(text)


@pytest.mark.parametrize("text", ["0", "-0", "0.00000000", "1e-18", "9999999999999999.5", "-100"])
def test_number_takes_what_money_can_be(text: str) -> None:
    assert number(text) == Decimal(text) and str(number(text)) == str(Decimal(text))


@settings(max_examples=300, deadline=1000)
@given(st.one_of(st.decimals().map(str), st.text(max_size=20)))
def test_number_is_in_range_or_a_value_error(text: str) -> None:
    try:
        d = number(text)
    except ValueError:
        return
    assert d.is_finite() and len(d.as_tuple().digits) <= 40
    assert d == 0 or Decimal("1e-18") <= abs(d) < Decimal("1e16")
    # a product of two, rounded to the finest increment, fits MONEY_CONTEXT (no trap)
    product = MONEY_CONTEXT.multiply(d, d)
    assert product.quantize(Decimal("1e-18"), context=MONEY_CONTEXT).is_finite()
