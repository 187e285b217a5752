import dataclasses
import json
import typing
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradekit.core import (
    CancelOrder,
    CancelReason,
    CancelRejected,
    CancelUnknown,
    DustLeft,
    EditRejected,
    EditStopOrder,
    EntryEnded,
    EntryPlaced,
    EntrySkipped,
    ExitPlaced,
    MarketTrade,
    OrderAccepted,
    OrderEdited,
    OrderFilled,
    OrderNewsContradicted,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    OrderStatusReport,
    OrderSubmitUnknown,
    PlaceLimitBuy,
    PlaceLimitSell,
    PlaceStopLimitSell,
    PositionClosed,
    PositionOpened,
    PrintIgnored,
    ProtectionBlocked,
    ProtectionWaiting,
    QueryOrder,
    StopBreached,
    StopGappedThrough,
    StopMoved,
    StopRejected,
    StopTriggered,
    Timer,
    TradingState,
    TradingStateChanged,
)
from tradekit.core.money import plain
from tradekit.store import decode, encode
from tradekit.store.codec import REGISTRY

STOP = PlaceStopLimitSell("t-3", "BTC-USD", D("0.01000000"), D("97902.00"), D("97412.49"), 5, "t-2")

# One instance of every event, command and report class, with awkward Decimals: trailing
# zeros, exponents, negative zero, many digits. Several classes appear twice to cover
# optional fields set and unset.
SAMPLES: list[object] = [
    MarketTrade("BTC-USD", D("100000.10"), D("0.00000001"), 1, "tr-1"),
    MarketTrade("BTC-USD", D("1E+5"), D("2.5E-7"), 2),
    Timer(3),
    OrderAccepted("t-1", "ex-1", 4),
    OrderRejected("t-1", "INSUFFICIENT_FUND", 5),
    OrderSubmitUnknown("t-1", 6, "timeout"),
    OrderFilled("t-1", "tr-9", D("99900.00"), D("0.00500000"), D("0.4995000000"), 7),
    OrderStatusReport("t-1", OrderStatus.OPEN, 8),
    OrderStatusReport(
        "t-1", OrderStatus.CANCELLED, 9, "ex-1", D("0.005"), D("499.5000"), D("0.4995"), True
    ),
    CancelRejected("t-2", "UNKNOWN_CANCEL_ORDER", 10),
    CancelUnknown("t-2", 11, "reset"),
    OrderEdited("t-2", D("0.5"), D("97.00"), D("96.50"), 12),
    EditRejected("t-2", "ORDER_TRIGGERED", 13),
    EditStopOrder("t-2", "X2", D("0.5"), D("97.00"), D("96.50"), 14),
    QueryOrder("t-2", "X2", 14),
    QueryOrder("t-3", None, 14),
    OrderNotFound("t-3", 15),
    TradingStateChanged(TradingState.HALTED, 15, "kill switch"),
    TradingStateChanged(TradingState.HALTED, 16, "flatten", D("0.001")),
    PlaceLimitSell("t-9", "BTC-USD", D("0.5"), D("96.10"), 17),
    PlaceLimitBuy("t-1", "BTC-USD", D("0.01"), D("99900.00"), 12),
    STOP,
    PlaceStopLimitSell("t-2", "BTC-USD", D("0.01"), D("97902.00"), D("97412.49"), 13),
    CancelOrder("t-2", "ex-2", CancelReason.STOP_MOVE, 14, STOP),
    CancelOrder("t-1", "ex-1", CancelReason.ENTRY_TIMEOUT, 15),
    EntryPlaced("BTC-USD", "t-1", D("0.01"), D("99900.00"), D("100000.00"), 16),
    EntrySkipped("BTC-USD", "size 0 is below base_min_size 0.00000001", 17),
    EntryEnded("BTC-USD", "t-1", "FILLED", D("0.0100"), 18),
    PositionOpened("BTC-USD", D("0.01"), D("99900.00"), 19),
    StopMoved("BTC-USD", None, D("97902.00"), D("97412.49"), D("99900.00"), D("99900.00"), 20),
    StopMoved(
        "BTC-USD", D("97902.00"), D("107800.00"), D("107261.00"), D("110000"), D("110000"), 21
    ),
    StopRejected("BTC-USD", "t-2", "INVALID_PRICE", 22),
    StopTriggered("BTC-USD", "t-3", D("0"), D("0.01"), 23),
    StopBreached("BTC-USD", D("97902.00"), D("97800.10"), "exit", 24),
    StopGappedThrough("BTC-USD", "t-3", D("97412.49"), D("97000.00"), 25),
    ExitPlaced("BTC-USD", "t-4", D("0.01"), D("96515.00"), "gap_through", 26),
    ProtectionBlocked("BTC-USD", "stop refused (INVALID_SIZE_PRECISION)", 27 + 10**9, 27),
    ProtectionBlocked("BTC-USD", "on_breach=wait", None, 28),
    ProtectionWaiting("BTC-USD", "cancel of t-2 refused (UNKNOWN)", 29 + 10**9, 29),
    OrderNewsContradicted("BTC-USD", "t-2", "order t-2: no transition from OPEN on rejected", 30),
    DustLeft("BTC-USD", D("0.00000004"), "size 0.00000004 is below base_min_size 0.0001", 29),
    PrintIgnored("BTC-USD", D("-1"), "a print at -1 (not positive)", 30),
    PositionClosed(
        "BTC-USD", D("0.01"), D("99900.00"), D("107261.00"), D("-0.0"), D("73.61000000000"), 24
    ),
]


def test_samples_cover_every_class():
    assert {type(s).__name__ for s in SAMPLES} == set(REGISTRY)
    assert len(REGISTRY) == 35


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_round_trip_is_exact(obj):
    data = encode(obj)
    assert data["type"] == type(obj).__name__
    back = decode(json.loads(json.dumps(data)))  # through real JSON text
    assert back == obj
    assert type(back) is type(obj)
    # exact, not just equal: Decimal("1.0") == Decimal("1") but their plain texts differ
    # (plain text has no exponent: Decimal("1E+5") comes back as Decimal("100000"))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, D):
            assert plain(getattr(back, f.name)) == plain(value)
    assert encode(back) == data


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_encoded_values_are_json_primitives(obj):
    hints = typing.get_type_hints(type(obj))
    data = encode(obj)
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        if isinstance(value, D):
            assert data[f.name] == plain(value)  # never exponent notation
            assert "E" not in data[f.name]
        elif value is None:
            assert data[f.name] is None
        elif hint is CancelReason or hint is OrderStatus:
            assert type(data[f.name]) is str
        elif dataclasses.is_dataclass(value):
            assert data[f.name] == encode(value)
        else:
            assert data[f.name] == value


def test_cancel_with_then_nests_the_stop():
    cancel = CancelOrder("t-2", "ex-2", CancelReason.STOP_MOVE, 14, STOP)
    data = encode(cancel)
    assert data == {
        "type": "CancelOrder",
        "client_order_id": "t-2",
        "order_id": "ex-2",
        "reason": "stop_move",
        "ts": 14,
        "then": {
            "type": "PlaceStopLimitSell",
            "client_order_id": "t-3",
            "product_id": "BTC-USD",
            "size": "0.01000000",
            "stop_price": "97902.00",
            "limit_price": "97412.49",
            "ts": 5,
            "replaces": "t-2",
        },
    }
    back = decode(data)
    assert back == cancel
    assert isinstance(back.then, PlaceStopLimitSell)
    assert back.reason is CancelReason.STOP_MOVE


def test_enum_and_none_fields():
    report = OrderStatusReport("t-1", OrderStatus.OPEN, 8)
    data = encode(report)
    assert data["status"] == "OPEN"
    assert data["order_id"] is None and data["filled_size"] is None and data["triggered"] is None
    assert decode(data).status is OrderStatus.OPEN


def test_missing_field_with_default_takes_the_default():
    back = decode({"type": "MarketTrade", "product_id": "X-Y", "price": "1", "size": "2", "ts": 3})
    assert back == MarketTrade("X-Y", D(1), D(2), 3, "")


@given(
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_any_finite_decimal_round_trips_exactly(price, size, ts):
    trade = MarketTrade("BTC-USD", price, size, ts)
    back = decode(json.loads(json.dumps(encode(trade))))
    assert str(back.price) == str(price) and str(back.size) == str(size)
    assert back.ts == ts


def _good() -> dict:
    return encode(OrderFilled("t-1", "tr-9", D("99900.00"), D("0.005"), D("0.5"), 7))


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda d: d.update(type="Nope"), ["unknown type", "Nope"]),
        (lambda d: d.pop("type"), ["unknown type"]),
        (lambda d: d.pop("price"), ["OrderFilled.price", "missing"]),
        (lambda d: d.update(price="abc"), ["OrderFilled.price", "abc"]),
        (lambda d: d.update(price="NaN"), ["OrderFilled.price", "finite"]),
        (lambda d: d.update(price=1.5), ["OrderFilled.price", "float"]),
        (lambda d: d.update(ts="7"), ["OrderFilled.ts", "int"]),
        (lambda d: d.update(ts=True), ["OrderFilled.ts", "bool"]),
        (lambda d: d.update(trade_id=None), ["OrderFilled.trade_id", "NoneType"]),
        (lambda d: d.update(colour="red"), ["OrderFilled.colour", "unexpected"]),
    ],
)
def test_decode_errors_name_type_and_field(mutate, needles):
    data = _good()
    mutate(data)
    with pytest.raises(ValueError) as err:
        decode(data)
    for needle in needles:
        assert needle in str(err.value)


def test_decode_bad_enum_and_nested():
    data = encode(CancelOrder("t-2", "ex-2", CancelReason.STOP_MOVE, 14, STOP))
    with pytest.raises(ValueError, match=r"CancelOrder\.reason.*CancelReason"):
        decode({**data, "reason": "because"})
    with pytest.raises(ValueError, match=r"CancelOrder\.then.*PlaceStopLimitSell"):
        decode({**data, "then": encode(Timer(1))})
    with pytest.raises(ValueError, match=r"CancelOrder\.then"):
        decode({**data, "then": "t-3"})
    with pytest.raises(ValueError, match=r"PlaceStopLimitSell\.size"):
        decode({**data, "then": {**data["then"], "size": "x"}})
    with pytest.raises(ValueError, match="mapping"):
        decode(["CancelOrder"])  # type: ignore[arg-type]


def test_encode_refuses_floats_and_strangers():
    with pytest.raises(ValueError, match=r"MarketTrade\.price.*float"):
        encode(MarketTrade("BTC-USD", 0.1, D(1), 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"MarketTrade\.price.*finite"):
        encode(MarketTrade("BTC-USD", D("Infinity"), D(1), 1))
    with pytest.raises(ValueError, match=r"OrderStatusReport\.status"):
        encode(OrderStatusReport("t-1", "SHINY", 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"CancelOrder\.then"):
        encode(CancelOrder("t-1", "ex", CancelReason.KILL, 1, Timer(1)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dict"):
        encode({"type": "Timer", "ts": 1})


def test_int_in_a_decimal_field_encodes_as_the_same_number():
    back = decode(encode(MarketTrade("BTC-USD", 5, D(1), 1)))  # type: ignore[arg-type]
    assert back.price == D(5) and type(back.price) is D
