"""Recordings: the file format, the taps, reading errors, and replays (engine, sim, async)."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from tradekit.core.decision import DecisionEngine
from tradekit.core.events import (
    MarketTrade,
    OrderEdited,
    OrderFilled,
    OrderStatusReport,
    Timer,
    TradingState,
    TradingStateChanged,
)
from tradekit.core.orders import OrderStatus
from tradekit.data import (
    PricePath,
    Recorder,
    Recording,
    RecordingError,
    record_async,
    record_iter,
    record_path,
    replay_async,
    replay_into_sim,
)
from tradekit.demo import DemoSetup
from tradekit.engine.execution import ExecutionEngine
from tradekit.store.codec import encode
from tradekit.store.sqlite import Store

S = 1_000_000_000
T0 = 1_704_067_200 * S

EVENTS: list[Any] = [
    MarketTrade("BTC-USD", D("60000.01"), D("0.00000001"), T0, "t1"),
    OrderStatusReport(
        "c-1",
        OrderStatus.OPEN,
        T0 + 1,
        order_id="o-1",
        filled_size=D("0.00000001"),
        filled_value=D("0.6000001"),
        total_fees=D("0.000000"),
        triggered=True,
    ),
    OrderStatusReport("c-2", OrderStatus.CANCELLED, T0 + 2),
    OrderFilled("c-1", "f-9", D("60000.01"), D("0.00000001"), D("1E-8"), T0 + 3),
    Timer(T0 + 4),
    TradingStateChanged(TradingState.PAUSED, T0 + 5, "lunch"),
    OrderEdited("c-3", D("0.5"), None, D("59000.00"), T0 + 6),
    MarketTrade("ETH-USD", D("3000.10"), D("1.5"), T0 + 7),
]


def write_recording(path: Path, events: list[Any] = EVENTS) -> Path:
    with Recorder(path, meta={"products": ["BTC-USD", "ETH-USD"], "source": "test"}) as rec:
        for i, ev in enumerate(events):
            rec.record(ev, recv_ns=T0 + 10 * i)
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------------------- round trip


def test_round_trip_is_exact(tmp_path: Path) -> None:
    p = write_recording(tmp_path / "r.jsonl")
    rec = Recording(p)
    assert rec.meta == {"products": ["BTC-USD", "ETH-USD"], "source": "test"}
    assert rec.version == 1
    pairs = list(rec)
    assert pairs == [(T0 + 10 * i, ev) for i, ev in enumerate(EVENTS)]
    assert list(rec.events()) == EVENTS
    # exact Decimals: same digits and exponent, not just equal values
    report = pairs[1][1]
    assert str(report.filled_size) == "1E-8" and str(report.total_fees) == "0.000000"
    assert rec.trades() == [EVENTS[0], EVENTS[-1]]
    assert rec.trades("ETH-USD") == [EVENTS[-1]]
    assert list(rec) == pairs  # iterable again


def test_file_format(tmp_path: Path) -> None:
    p = write_recording(tmp_path / "r.jsonl")
    text = p.read_text(encoding="utf-8")
    assert text.endswith("\n") and ", " not in text and '": ' not in text  # compact
    header, *body = (json.loads(line) for line in lines(p))
    assert header.keys() == {"format", "version", "created_ns", "meta"}
    assert header["format"] == "tradekit-recording" and header["version"] == 1
    assert type(header["created_ns"]) is int
    assert body[0] == {"recv_ns": T0, "event": encode(EVENTS[0])}
    assert len(body) == len(EVENTS)


def test_recorder_buffers_flushes_and_refuses_bad_input(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    rec = Recorder(p, flush_every=3, flush_s=None)
    assert len(lines(p)) == 1  # the header is written at once: a valid, empty recording
    assert list(Recording(p)) == []
    rec.record(EVENTS[0], T0)
    rec.record(EVENTS[1], T0)
    assert len(lines(p)) == 1  # buffered
    rec.record(EVENTS[2], T0)
    assert len(lines(p)) == 4  # every 3 events
    rec.record(EVENTS[3])  # recv_ns defaults to the wall clock
    rec.flush()
    assert len(lines(p)) == 5
    with pytest.raises(ValueError, match="cannot encode"):
        rec.record("not an event")
    with pytest.raises(TypeError, match="recv_ns"):
        rec.record(EVENTS[0], recv_ns=1.5)  # type: ignore[arg-type]
    rec.close()
    rec.close()
    assert rec.closed and rec.count == 4
    with pytest.raises(ValueError, match="closed"):
        rec.record(EVENTS[0])
    recv = [r for r, _ in Recording(p)]
    assert recv[:3] == [T0, T0, T0] and recv[3] > T0
    with pytest.raises(FileExistsError):
        Recorder(p)  # a recording is not overwritten by accident
    with Recorder(p, overwrite=True):
        pass
    assert list(Recording(p)) == []
    with pytest.raises(TypeError, match="JSON"):
        Recorder(tmp_path / "m.jsonl", meta={"x": D("1")})
    assert not (tmp_path / "m.jsonl").exists()


def test_recorder_flushes_on_close_after_an_error(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    with pytest.raises(RuntimeError), Recorder(p, flush_s=None) as rec:
        rec.record(EVENTS[0], T0)
        raise RuntimeError("boom")
    assert list(Recording(p).events()) == [EVENTS[0]]


# ---------------------------------------------------------------------------- taps


def test_record_iter_yields_what_it_records(tmp_path: Path) -> None:
    p = tmp_path / "tap.jsonl"
    seen = list(record_iter(iter(EVENTS), p, meta={"source": "tap"}))
    assert seen == EVENTS
    rec = Recording(p)
    assert rec.meta == {"source": "tap"} and list(rec.events()) == EVENTS

    q = tmp_path / "limited.jsonl"
    source = iter(EVENTS)
    assert list(record_iter(source, q, limit=3)) == EVENTS[:3]
    assert list(Recording(q).events()) == EVENTS[:3]
    assert next(source) == EVENTS[3]  # nothing consumed past the limit

    # into an open Recorder, which the tap leaves open
    with Recorder(tmp_path / "shared.jsonl") as shared:
        assert list(record_iter(EVENTS[:2], shared)) == EVENTS[:2]
        assert not shared.closed
        assert list(record_iter(EVENTS[2:], shared)) == EVENTS[2:]
    assert list(Recording(tmp_path / "shared.jsonl").events()) == EVENTS


def test_record_iter_closed_early_keeps_what_passed(tmp_path: Path) -> None:
    p = tmp_path / "tap.jsonl"
    tap = record_iter(EVENTS, p)
    assert next(tap) == EVENTS[0] and next(tap) == EVENTS[1]
    tap.close()
    assert list(Recording(p).events()) == EVENTS[:2]


async def _feed(events: list[Any]) -> AsyncIterator[Any]:
    for ev in events:
        await asyncio.sleep(0)
        yield ev


@pytest.mark.asyncio
async def test_record_async_yields_what_it_records(tmp_path: Path) -> None:
    p = tmp_path / "tap.jsonl"
    seen = [ev async for ev in record_async(_feed(EVENTS), p)]
    assert seen == EVENTS
    assert list(Recording(p).events()) == EVENTS

    q = tmp_path / "limited.jsonl"
    seen = [ev async for ev in record_async(_feed(EVENTS), q, limit=5, meta={"n": 5})]
    assert seen == EVENTS[:5]
    assert Recording(q).meta == {"n": 5} and list(Recording(q).events()) == EVENTS[:5]


@pytest.mark.asyncio
async def test_replay_async_yields_the_events(tmp_path: Path) -> None:
    p = write_recording(tmp_path / "r.jsonl")
    assert [ev async for ev in replay_async(p)] == EVENTS
    # paced: recv_ns 10 ns apart, so at any speed the waits are negligible
    assert [ev async for ev in replay_async(Recording(p), speed=2.0)] == EVENTS


@pytest.mark.asyncio
async def test_replay_async_honours_speed(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    with Recorder(p) as rec:
        for i in range(3):
            rec.record(EVENTS[0], recv_ns=T0 + i * S // 10)  # 0.1 s apart
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert len([ev async for ev in replay_async(p, speed=4.0)]) == 3
    assert 0.04 <= loop.time() - t0 < 1.0  # 0.2 s of recording at 4x: ~0.05 s


# ---------------------------------------------------------------------------- ticks


def test_ticks_source_gives_the_tail(tmp_path: Path) -> None:
    path = PricePath("BTC-USD", D("60000"), 200, seed=11)
    p = tmp_path / "path.jsonl"
    assert record_path(path, p) == 200
    rec = Recording(p)
    assert rec.meta["source"] == "PricePath" and rec.meta["params"]["seed"] == 11
    assert rec.meta["params"]["start_price"] == "60000"
    trades = path.to_list()
    assert [(r, ev) for r, ev in rec] == [(t.ts, t) for t in trades]  # recv_ns = ts
    ticks = rec.ticks_source()
    for start in (0, 1, 57, 199, 200, 500):
        assert list(ticks(start)) == trades[start:]
    assert list(rec.ticks_source("ETH-USD")(0)) == []
    with pytest.raises(ValueError, match="start"):
        ticks(-1)


def test_record_path_takes_any_trades(tmp_path: Path) -> None:
    trades = [EVENTS[0], EVENTS[-1]]
    p = tmp_path / "t.jsonl"
    assert record_path(trades, p, meta={"source": "hand"}) == 2
    assert Recording(p).meta == {"source": "hand"}
    assert Recording(p).trades() == trades
    with pytest.raises(TypeError, match="item 1"):
        record_path([EVENTS[0], EVENTS[1]], tmp_path / "bad.jsonl")


def run_engine(store_path: Path, setup: DemoSetup, **kw: Any) -> tuple[D, int, int]:
    with Store(store_path) as store:
        if "ticks" in kw:
            decision = DecisionEngine(setup.params(), setup.rule(), f"r-{setup.product_id}")
            engine = ExecutionEngine(decision, setup.exchange(), store, kw["ticks"])
        else:
            engine = setup.engine(store, setup.exchange(), "r", trades=kw.get("trades"))
        handled = engine.run()
        return store.total_realized_pnl(), len(store.journal()), handled


def test_engine_on_a_recorded_path_matches_the_original(tmp_path: Path) -> None:
    setup = DemoSetup(seed=3, ticks=3000)
    p = tmp_path / "demo.jsonl"
    record_path(setup.path(), p)
    rec = Recording(p)
    original = run_engine(tmp_path / "a.sqlite", setup)
    replayed = run_engine(tmp_path / "b.sqlite", setup, trades=rec.trades())
    sourced = run_engine(tmp_path / "c.sqlite", setup, ticks=rec.ticks_source())
    assert original[2] == 3000 and original[1] > 10  # the run did something
    assert replayed == original
    assert sourced == original


# ---------------------------------------------------------------------------- bad files


def bad(tmp_path: Path, text: str | bytes) -> Path:
    p = tmp_path / "bad.jsonl"
    if isinstance(text, str):
        text = text.encode("utf-8")
    p.write_bytes(text)
    return p


HEADER = '{"format":"tradekit-recording","version":1,"created_ns":1,"meta":{}}\n'
TRADE = json.dumps({"recv_ns": 5, "event": encode(EVENTS[0])}, separators=(",", ":")) + "\n"
FILL = (
    '{"recv_ns":5,"event":{"type":"OrderFilled","client_order_id":"c","trade_id":"t",'
    '"price":"100.5","size":"0.5","fee":"0.01","ts":1}}\n'
)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty file"),
        ("a,b,c\n1,2,3\n", 1, "not a tradekit recording"),
        ('{"format":"something-else","version":1}\n', 1, "not a tradekit recording"),
        ("[1, 2]\n", 1, "not a tradekit recording"),
        (HEADER.replace('"version":1', '"version":2'), 1, "unsupported recording version 2"),
        (HEADER.replace('"version":1', '"version":"1"'), 1, "header.version"),
        (HEADER.replace('"meta":{}', '"meta":[]'), 1, "header.meta"),
        (HEADER.replace('"created_ns":1', '"created_ns":1.5'), 1, "header.created_ns"),
        (HEADER.replace('"meta":{}', '"meta":{},"x":1'), 1, "header.x: unexpected"),
        (HEADER[:-1], 1, "header line cut short"),
    ],
)
def test_bad_header(tmp_path: Path, text: str, line: int, message: str) -> None:
    p = bad(tmp_path, text)
    with pytest.raises(RecordingError, match=message) as info:
        Recording(p)
    err = info.value
    assert err.path == str(p) and err.line == line
    assert str(err).startswith(f"{p}, line {line}: ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"recv_ns":5,"event":\n', "malformed JSON"),
        (b'{"recv_ns":5,"event":"\xff"}\n', "malformed JSON"),
        ("\n", "malformed JSON"),
        ("[5]\n", "expected a JSON object"),
        ('{"event":{"type":"Timer","ts":1}}\n', "recv_ns: missing"),
        ('{"recv_ns":5}\n', "event: missing"),
        ('{"recv_ns":5,"event":{"type":"Timer","ts":1},"x":0}\n', "x: unexpected field"),
        ('{"recv_ns":"5","event":{"type":"Timer","ts":1}}\n', "recv_ns: expected an integer"),
        ('{"recv_ns":true,"event":{"type":"Timer","ts":1}}\n', "recv_ns: expected an integer"),
        ('{"recv_ns":5,"event":{"type":"Bogus","ts":1}}\n', "unknown type 'Bogus'"),
        ('{"recv_ns":5,"event":[1]}\n', "expected a mapping"),
        (TRADE.replace('"price":"60000.01"', '"price":60000.01'), r"MarketTrade\.price"),
        (TRADE.replace('"price":"60000.01"', '"price":"lots"'), r"MarketTrade\.price"),
        (TRADE.replace(',"trade_id":"t1"', ',"trade_id":"t1","side":"BUY"'), "side"),
        (TRADE.replace('"size":"0.00000001",', ""), r"MarketTrade\.size: missing"),
        (FILL.replace('"size":"0.5"', '"size":"-1"'), r"OrderFilled\.size: -1 is impossible"),
        (FILL.replace('"price":"100.5"', '"price":"0"'), r"OrderFilled\.price: 0 is impossible"),
        (FILL.replace('"fee":"0.01"', '"fee":"-0.01"'), r"OrderFilled\.fee: -0.01 is impossible"),
        (
            '{"recv_ns":5,"event":{"type":"OrderStatusReport","client_order_id":"c","status":'
            '"OPEN","ts":1,"order_id":"o","filled_size":"-2","filled_value":"0",'
            '"total_fees":"0","triggered":null}}\n',
            r"OrderStatusReport\.filled_size: -2 is impossible",
        ),
    ],
)
def test_bad_record_names_file_and_line(tmp_path: Path, body: str | bytes, message: str) -> None:
    assert body != TRADE  # each case really damages the line
    head = (HEADER + TRADE + TRADE).encode()
    p = bad(tmp_path, head + (body.encode() if isinstance(body, str) else body) + TRADE.encode())
    rec = Recording(p)  # the header is fine
    it = iter(rec)
    assert next(it) == (5, EVENTS[0]) and next(it) == (5, EVENTS[0])  # good lines first
    with pytest.raises(RecordingError, match=message) as info:
        next(it)
    assert info.value.path == str(p) and info.value.line == 4
    assert str(info.value).startswith(f"{p}, line 4: ")
    with pytest.raises(RecordingError):
        rec.trades()
    with pytest.raises(RecordingError):
        rec.ticks_source()


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"trade_id": None},  # absent: the default ""
        {"price": "NaN"},
        {"size": "-Infinity"},
        {"price": " 1.5 "},
        {"ts": True},
        {"ts": 1.0},
        {"product_id": 7},
        {"trade_id": 7},
        {"price": "1e-30", "size": "0E+3"},
        {"price": "1e-8", "size": "0E+3"},
        {"price": "1e16"},
        {"price": "-1"},
        {"price": "0"},
        {"size": "-0.1"},
        {"ts": -1},
        {"ts": 2**63},
    ],
)
def test_trade_fast_path_agrees_with_the_codec(change: dict[str, Any]) -> None:
    from tradekit.data.recorder import _checked, _decode
    from tradekit.store.codec import decode

    data = encode(EVENTS[0]) | change
    data = {k: v for k, v in data.items() if v is not None}
    try:
        expected: Any = _checked(decode(data))  # the codec, then the recorder's bounds
    except ValueError as e:
        with pytest.raises(ValueError) as info:
            _decode(data)
        assert str(info.value) == str(e)
    else:
        got = _decode(data)
        assert got == expected and str(got.price) == str(expected.price)


def test_recording_error_pickles() -> None:
    err = RecordingError("f.jsonl", 3, "boom")
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.line, back.message, str(back)) == ("f.jsonl", 3, "boom", str(err))
    assert isinstance(back, ValueError)


@pytest.mark.parametrize("cut", [1, 20, len(TRADE) - 2, len(TRADE) - 1])
def test_truncated_last_line_is_skipped(tmp_path: Path, cut: int) -> None:
    # a crash mid-write: the last line has no newline (even if its JSON happens to be whole)
    p = bad(tmp_path, HEADER + TRADE + TRADE[:cut])
    assert list(Recording(p)) == [(5, EVENTS[0])]


def test_a_cut_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    p = bad(tmp_path, HEADER + TRADE[:30] + TRADE)  # damage, not a crash at the end
    with pytest.raises(RecordingError, match="line 2: malformed JSON"):
        list(Recording(p))


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Recording(tmp_path / "nope.jsonl")


# ---------------------------------------------------------------------------- replay into sim


class FakeMarket:
    def __init__(self) -> None:
        self.printed: list[MarketTrade] = []

    def advance(self, trade: MarketTrade) -> list[Any]:
        self.printed.append(trade)
        return []


def test_replay_into_sim_filters_and_paces(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    with Recorder(p) as rec:
        rec.record(EVENTS[0], T0)  # BTC
        rec.record(EVENTS[1], T0 + 1 * S)  # not a trade
        rec.record(EVENTS[-1], T0 + 2 * S)  # ETH
        rec.record(EVENTS[0], T0 + 4 * S)  # BTC
        rec.record(EVENTS[0], T0 + 3600 * S)  # BTC, an hour later
    market = FakeMarket()
    assert replay_into_sim(p, market) == 4
    assert market.printed == [EVENTS[0], EVENTS[-1], EVENTS[0], EVENTS[0]]

    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    market = FakeMarket()
    n = replay_into_sim(
        Recording(p), market, ["BTC-USD"], speed=2.0, sleep=sleep, clock=lambda: now[0]
    )
    assert n == 3 and market.printed == [EVENTS[0]] * 3
    assert slept == [2.0, 5.0]  # 4 s at 2x; the hour capped at max_gap_s
    with pytest.raises(ValueError, match="speed"):
        replay_into_sim(p, market, speed=0)


def test_replay_into_a_real_simulator(tmp_path: Path) -> None:
    from tradekit.sim.client import SimMarket
    from tradekit.sim.server import SimServer

    n = 40
    path = PricePath("BTC-USD", D("60000"), n, seed=4)
    p = tmp_path / "sim.jsonl"
    with Recorder(p) as rec:
        for i, trade in enumerate(path):
            rec.record(trade, trade.ts)
            if i % 10 == 0:
                rec.record(Timer(trade.ts))  # not printed
        rec.record(MarketTrade("ETH-USD", D("3000"), D("1"), T0))  # filtered out below
    with SimServer(rate_limit_per_s=1e6) as s:
        market = SimMarket(s.base_url, admin_token=s.admin_token)
        try:
            before = market.market_seq
            assert s.call(lambda st: st.exchange.market_seq) == before
            assert replay_into_sim(p, market, product_ids=["BTC-USD"]) == n
            assert market.market_seq == before + n
            assert s.call(lambda st: st.exchange.market_seq) == before + n
            last = path.to_list()[-1].price
            assert s.call(lambda st: st.exchange.last_price("BTC-USD")) == last
        finally:
            market.close()
