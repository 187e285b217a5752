"""An exact JSON-able codec for the core's frozen dataclasses: events, commands, reports.

    encode(OrderFilled("t-1", "tr-9", Decimal("101.25"), Decimal("0.5"), Decimal("0.1"), 7))
    -> {"type": "OrderFilled", "client_order_id": "t-1", "trade_id": "tr-9",
        "price": "101.25", "size": "0.5", "fee": "0.1", "ts": 7}

`decode(encode(x)) == x` for every registered class, Decimals exact (`money.plain`: every
digit, never exponent notation, so `1E-8` is written `0.00000001`). The registry is
derived from the dataclasses defined in
`tradekit.core.events`, `.commands` and `.reports`; what each field holds (Decimal, a
StrEnum, a nested dataclass, a plain str/int/bool, each possibly `| None`) is read from
the type hints once, at import, so a new event class needs no change here.

Errors are `ValueError`s naming the type and the field: an unknown type name, a missing
required field, an unexpected field, a value of the wrong kind. A float is refused where
a Decimal belongs (as in the core: `float("0.1")` is not 0.1).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from tradekit.core import commands as _commands
from tradekit.core import events as _events
from tradekit.core import reports as _reports
from tradekit.core.money import plain

__all__ = ["REGISTRY", "decode", "encode"]

_Conv = Callable[[Any], Any]


class _Bad(Exception):
    """Raised by a field converter; turned into a ValueError naming type and field."""


def _plain(expected: type) -> tuple[_Conv, _Conv]:
    def check(v: Any) -> Any:
        # bool is an int: an int field must not take True, a bool field must not take 1.
        if type(v) is not expected:
            raise _Bad(f"expected {expected.__name__}, got {type(v).__name__} ({v!r})")
        return v

    return check, check


def _enc_decimal(v: Any) -> str:
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise _Bad(f"not a finite number ({v!r})")
        return plain(v)
    if type(v) is int:
        return str(v)
    raise _Bad(f"expected a Decimal, got {type(v).__name__} ({v!r})")


def _dec_decimal(v: Any) -> Decimal:
    if type(v) is not str:
        raise _Bad(f"expected a decimal string, got {type(v).__name__} ({v!r})")
    try:
        d = Decimal(v)
    except InvalidOperation:
        raise _Bad(f"{v!r} is not a decimal number") from None
    if not d.is_finite():
        raise _Bad(f"{v!r} is not a finite number")
    return d


def _enum(cls: type[Enum]) -> tuple[_Conv, _Conv]:
    def enc(v: Any) -> Any:
        try:
            return cls(v).value
        except ValueError:
            raise _Bad(f"{v!r} is not a {cls.__name__}") from None

    def dec(v: Any) -> Enum:
        try:
            return cls(v)
        except ValueError:
            raise _Bad(f"{v!r} is not a {cls.__name__}") from None

    return enc, dec


def _nested(allowed: tuple[type, ...]) -> tuple[_Conv, _Conv]:
    names = " | ".join(c.__name__ for c in allowed)

    def enc(v: Any) -> dict[str, Any]:
        if type(v) not in allowed:
            raise _Bad(f"expected {names}, got {type(v).__name__}")
        return encode(v)

    def dec(v: Any) -> Any:
        if not isinstance(v, Mapping):
            raise _Bad(f"expected an encoded {names}, got {type(v).__name__}")
        obj = decode(v)
        if type(obj) not in allowed:
            raise _Bad(f"expected {names}, got {type(obj).__name__}")
        return obj

    return enc, dec


def _optional(pair: tuple[_Conv, _Conv]) -> tuple[_Conv, _Conv]:
    enc, dec = pair
    return (
        lambda v: None if v is None else enc(v),
        lambda v: None if v is None else dec(v),
    )


def _converters(owner: type, name: str, hint: Any) -> tuple[_Conv, _Conv]:
    """(encode, decode) for one field, from its resolved type hint."""
    args: tuple[Any, ...] = (hint,)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
    optional = type(None) in args
    kinds = tuple(a for a in args if a is not type(None))
    pair: tuple[_Conv, _Conv]
    if all(isinstance(k, type) and dataclasses.is_dataclass(k) for k in kinds):
        pair = _nested(kinds)
    elif len(kinds) != 1 or not isinstance(kinds[0], type):
        raise TypeError(f"codec: {owner.__name__}.{name}: unsupported type {hint!r}")
    elif kinds[0] is Decimal:
        pair = (_enc_decimal, _dec_decimal)
    elif issubclass(kinds[0], Enum):
        pair = _enum(kinds[0])
    elif kinds[0] in (str, int, bool):
        pair = _plain(kinds[0])
    else:
        raise TypeError(f"codec: {owner.__name__}.{name}: unsupported type {hint!r}")
    return _optional(pair) if optional else pair


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    required: bool
    enc: _Conv
    dec: _Conv


def _plan(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    plan = []
    for f in dataclasses.fields(cls):
        if f.name == "type":
            raise TypeError(f"codec: {cls.__name__} has a field named 'type', the tag key")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        enc, dec = _converters(cls, f.name, hints[f.name])
        plan.append(_Field(f.name, required, enc, dec))
    return tuple(plan)


def _registry() -> dict[str, type]:
    found: dict[str, type] = {}
    for module in (_events, _commands, _reports):
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and dataclasses.is_dataclass(obj)
                and obj.__module__ == module.__name__
            ):
                other = found.setdefault(obj.__name__, obj)
                if other is not obj:
                    raise TypeError(f"codec: two classes named {obj.__name__}")
    return found


REGISTRY: Mapping[str, type] = types.MappingProxyType(_registry())
"""Class name -> class, for every event, command and report dataclass of the core."""

_PLANS: dict[type, tuple[_Field, ...]] = {cls: _plan(cls) for cls in REGISTRY.values()}


def encode(obj: Any) -> dict[str, Any]:
    """`{"type": ClassName, **fields}`: Decimals as strings, enums as values, nested
    dataclasses encoded the same way, None kept. Only registered classes are accepted."""
    cls = type(obj)
    plan = _PLANS.get(cls)
    if plan is None:
        raise ValueError(f"codec: cannot encode {cls.__name__}: not a core event/command/report")
    out: dict[str, Any] = {"type": cls.__name__}
    for f in plan:
        try:
            out[f.name] = f.enc(getattr(obj, f.name))
        except _Bad as e:
            raise ValueError(f"codec: {cls.__name__}.{f.name}: {e}") from None
    return out


def decode(data: Mapping[str, Any]) -> Any:
    """The object `encode` made `data` from. Raises ValueError naming type and field."""
    if not isinstance(data, Mapping):
        raise ValueError(f"codec: expected a mapping, got {type(data).__name__}")
    name = data.get("type")
    cls = REGISTRY.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"codec: unknown type {name!r}")
    kwargs: dict[str, Any] = {}
    for f in _PLANS[cls]:
        if f.name in data:
            try:
                kwargs[f.name] = f.dec(data[f.name])
            except _Bad as e:
                raise ValueError(f"codec: {name}.{f.name}: {e}") from None
        elif f.required:
            raise ValueError(f"codec: {name}.{f.name}: missing")
    if len(kwargs) + 1 != len(data):
        known = {f.name for f in _PLANS[cls]}
        extra = sorted(k for k in data if k != "type" and k not in known)
        raise ValueError(f"codec: {name}.{extra[0]}: unexpected field")
    return cls(**kwargs)
