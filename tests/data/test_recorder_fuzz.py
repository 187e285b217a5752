"""Recordings, fuzzed: every malformed line is a `RecordingError` naming the file and the
line, never another exception, in bounded time; every event read back holds finite,
in-range Decimals."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradekit.core.events import MarketTrade, OrderFilled, OrderStatusReport, Timer
from tradekit.core.orders import OrderStatus
from tradekit.data import Recording, RecordingError
from tradekit.store.codec import encode

FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
T0 = 1_704_067_200 * 10**9
HEADER = '{"format":"tradekit-recording","version":1,"created_ns":1,"meta":{}}'
EVENTS = [
    encode(MarketTrade("BTC-USD", D("60000.01"), D("0.00000001"), T0, "t1")),
    encode(OrderFilled("c-1", "f-9", D("60000.01"), D("0.00000001"), D("1E-8"), T0 + 3)),
    encode(OrderStatusReport("c-1", OrderStatus.OPEN, T0 + 1, "o-1", D("0.5"), D("1"), D(0))),
    encode(Timer(T0 + 4)),
]
NASTY = [
    "1e999999999", "-1e999999999", "1e30", "1e16", "-100", "0", "NaN", "Infinity", "sNaN",
    "1e-999999999", "0E-999999999", "9" * 41, "1" * 5000, "", "x", "MarketTrade", "OPEN",
]  # fmt: skip
leaves = st.one_of(
    st.sampled_from(NASTY),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.text(max_size=6),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def record_lines(draw: st.DrawFn) -> str:
    """One record line: a real event with some fields replaced, or something else."""
    kind = draw(st.integers(min_value=0, max_value=5))
    if kind == 0:
        return draw(st.text(max_size=30).map(lambda t: t.replace("\n", " ")))
    if kind == 1:
        return json.dumps(draw(values))
    event = dict(draw(st.sampled_from(EVENTS)))
    for key in draw(st.lists(st.sampled_from(sorted(event)), max_size=3)):
        event[key] = draw(values)
    recv_ns = draw(st.one_of(st.just(T0), leaves))
    return json.dumps({"recv_ns": recv_ns, "event": event})


def read_all(body: str, header: str = HEADER) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.jsonl"
        path.write_text(header + "\n" + body, encoding="utf-8", errors="surrogatepass")
        try:
            rec = Recording(path)
            events = [ev for _, ev in rec]
        except RecordingError as e:
            assert e.path == str(path) and e.line >= 1
            assert str(e).startswith(f"{path}, line {e.line}: ")
            return
    for ev in events:
        for f in dataclasses.fields(ev):
            v = getattr(ev, f.name)
            if isinstance(v, D):
                assert v.is_finite() and abs(v) < D("1e16"), (f.name, v)
        if isinstance(ev, MarketTrade):
            assert ev.price > 0 and ev.size >= 0


@FUZZ
@given(st.lists(record_lines(), min_size=1, max_size=4))
def test_records(lines):
    read_all("".join(line + "\n" for line in lines))


@FUZZ
@given(st.one_of(values.map(json.dumps), st.text(max_size=40)))
def test_headers(header):
    read_all("", header.replace("\n", " "))


# -- regressions ----------------------------------------------------------------------


def recording(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.jsonl"
    path.write_text(text)
    return path


@pytest.mark.parametrize("deep", ["[" * 100_000, '{"a":' * 100_000, "[" * 40 + "]" * 40])
def test_deep_nesting_is_a_recording_error(tmp_path: Path, deep: str) -> None:
    """Was a RecursionError, in the header and in a record."""
    with pytest.raises(RecordingError, match="nested deeper than 32") as info:
        Recording(recording(tmp_path, deep + "\n"))
    assert info.value.line == 1
    path = recording(tmp_path, HEADER + "\n" + deep + "\n")
    with pytest.raises(RecordingError, match="nested deeper than 32") as info:
        list(Recording(path))
    assert info.value.line == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"price": "1e999999999"}, r"MarketTrade.price: 1E\+999999999 is out of range"),
        ({"size": "1e30"}, r"MarketTrade.size: 1E\+30 is out of range"),
        ({"price": "-100"}, "MarketTrade: price -100 and size"),
        ({"price": "0"}, "MarketTrade: price 0 and size"),
        ({"ts": 2**64}, "MarketTrade.ts: .* is out of range"),
    ],
)
def test_out_of_range_events_are_recording_errors(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    event = {**EVENTS[0], **change}
    line = json.dumps({"recv_ns": T0, "event": event})
    path = recording(tmp_path, HEADER + "\n" + line + "\n")
    with pytest.raises(RecordingError, match=message) as info:
        list(Recording(path))
    assert info.value.line == 2


def test_out_of_range_times_are_recording_errors(tmp_path: Path) -> None:
    line = json.dumps({"recv_ns": 2**64, "event": EVENTS[3]})
    with pytest.raises(RecordingError, match="recv_ns: expected an integer ns time"):
        list(Recording(recording(tmp_path, HEADER + "\n" + line + "\n")))
    header = HEADER.replace('"created_ns":1', '"created_ns":-1')
    with pytest.raises(RecordingError, match=r"header\.created_ns"):
        Recording(recording(tmp_path, header + "\n"))


def test_the_recorder_writes_only_what_it_can_read_back(tmp_path: Path) -> None:
    """A line the reader refuses would make the rest of the recording unreadable."""
    from tradekit.data import Recorder

    with Recorder(tmp_path / "w.jsonl") as rec:
        good = MarketTrade("BTC-USD", D("1"), D("1"), T0)
        for bad in (
            MarketTrade("BTC-USD", D("1e30"), D("1"), T0),
            MarketTrade("BTC-USD", D("-100"), D("1"), T0),
            MarketTrade("BTC-USD", D("1"), D("1"), -1),
        ):
            with pytest.raises(ValueError, match="MarketTrade"):
                rec.record(bad, T0)
        with pytest.raises(ValueError, match="recv_ns"):
            rec.record(good, 2**63)
        rec.record(good, T0)
    assert [ev for _, ev in Recording(tmp_path / "w.jsonl")] == [good]
    deep: Any = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        Recorder(tmp_path / "m.jsonl", meta={"x": deep})
