"""Request bodies as pydantic models: what Coinbase accepts, refused field by field.

Bodies are parsed by `inputs.read_json` first (duplicate keys, NaN and oversized bodies
refused there, JSON numbers kept as Decimal so that a price sent as a number is told
apart from one sent as a string). Every field is strict: prices and sizes are plain
decimal strings of at most 24 characters (the exact ledger maths stays in range), flags
are JSON booleans, unknown fields are refused, and a JSON `null` counts as absent (as
protobuf JSON does). `parse(Model, data)` turns the first problem into a `BadRequest`
naming the field by its path, e.g. `order_configuration.limit_limit_gtc.limit_price`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from tradekit.sim.rest.errors import BadRequest

__all__ = [
    "BatchCancel",
    "CreateOrder",
    "EditOrder",
    "LimitOrder",
    "MarketOrder",
    "OrderConfiguration",
    "StopLimitOrder",
    "kind",
    "parse",
    "parse_time",
]

NUM_MAX = 24  # characters in a decimal string
_NUM_RE = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
_NS = 1_000_000_000
_M = TypeVar("_M", bound=BaseModel)


def kind(value: object) -> str:
    """What a JSON value is, for messages ("a string", "a JSON number", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a JSON number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _decimal(value: object) -> Decimal:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "decimal_type",
            'expected a decimal string such as "0.01", got {kind}',
            {"kind": kind(value)},
        )
    if len(value) > NUM_MAX or not _NUM_RE.fullmatch(value):
        raise PydanticCustomError(
            "decimal_text",
            "{text} is not a plain decimal string of at most {n} chars",
            {"text": repr(value[:40]), "n": NUM_MAX},
        )
    return Decimal(value)


def _check_text(value: object, max_len: int) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "text_type", "expected a string, got {kind}", {"kind": kind(value)}
        )
    if not value:
        raise PydanticCustomError("text_empty", "must not be empty")
    if len(value) > max_len:
        raise PydanticCustomError("text_long", "longer than {n} characters", {"n": max_len})
    return value


def _text(max_len: int) -> PlainValidator:
    return PlainValidator(lambda value: _check_text(value, max_len))


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise PydanticCustomError(
            "flag_type", "expected true or false, got {kind}", {"kind": kind(value)}
        )
    return value


def parse_time(text: str, where: str) -> int:
    """RFC3339 -> unix nanoseconds (microsecond precision); BadRequest naming `where`."""
    try:
        return _time_ns(text)
    except ValueError as e:
        raise BadRequest(f"{where}: {e}") from None


def _time_ns(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an RFC3339 time") from None
    if dt.tzinfo is None:
        raise ValueError(f"{text[:40]!r} has no time zone")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def _rfc3339(value: object) -> str:
    text = _check_text(value, 64)
    try:
        _time_ns(text)
    except ValueError as e:
        raise PydanticCustomError("rfc3339", "{why}", {"why": str(e)}) from None
    return text


DecimalText = Annotated[Decimal, PlainValidator(_decimal)]
Flag = Annotated[bool, PlainValidator(_flag)]
Id = Annotated[str, _text(128)]
ProductId = Annotated[str, _text(64)]
Side = Annotated[str, _text(16)]  # BUY / SELL checked later: INVALID_SIDE is a business refusal
Rfc3339 = Annotated[str, PlainValidator(_rfc3339)]
StopDirection = Literal["STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"]


class Body(BaseModel):
    """Strict, closed JSON objects where `null` means absent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class Sized(Body):
    """A size in base (`base_size`) or, where Coinbase allows it, in quote (`quote_size`)."""

    base_size: DecimalText | None = None
    quote_size: DecimalText | None = None

    @model_validator(mode="after")
    def _one_size(self) -> Sized:
        if self.base_size is None and self.quote_size is None:
            raise PydanticCustomError("size_missing", "base_size: required")
        if self.base_size is not None and self.quote_size is not None:
            raise PydanticCustomError("size_twice", "give base_size or quote_size, not both")
        return self


class MarketOrder(Sized):
    """`market_market_ioc` / `market_market_fok`: a size in base or in quote."""

    rfq_disabled: Flag = False
    reduce_only: Flag = False


class LimitOrder(Sized):
    """`limit_limit_gtc`, `_gtd` (with `end_time`), `limit_limit_fok` and `sor_limit_ioc`."""

    limit_price: DecimalText
    post_only: Flag = False
    end_time: Rfc3339 | None = None
    rfq_disabled: Flag = False
    reduce_only: Flag = False


class StopLimitOrder(Sized):
    """`stop_limit_stop_limit_gtc` / `_gtd`: a limit order resting until `stop_price` trades."""

    limit_price: DecimalText
    stop_price: DecimalText
    stop_direction: StopDirection
    end_time: Rfc3339 | None = None
    reduce_only: Flag = False


class BracketOrder(Body):
    """`trigger_bracket_gtc`: a limit (take-profit) leg at `limit_price` and a stop leg at
    `stop_trigger_price`. The simulator rests the limit leg only (a bracket is here so
    that clients meet orders of a type tradekit does not place); its stop never fires."""

    base_size: DecimalText
    limit_price: DecimalText
    stop_trigger_price: DecimalText


GTD_KEYS = ("limit_limit_gtd", "stop_limit_stop_limit_gtd")


class OrderConfiguration(Body):
    """Exactly one of Coinbase's order configurations (the others are parsed loosely:
    the order handler refuses them as UNSUPPORTED_ORDER_CONFIGURATION)."""

    market_market_ioc: MarketOrder | None = None
    market_market_fok: MarketOrder | None = None
    limit_limit_gtc: LimitOrder | None = None
    limit_limit_gtd: LimitOrder | None = None
    limit_limit_fok: LimitOrder | None = None
    sor_limit_ioc: LimitOrder | None = None
    stop_limit_stop_limit_gtc: StopLimitOrder | None = None
    stop_limit_stop_limit_gtd: StopLimitOrder | None = None
    twap_limit_gtd: dict[str, Any] | None = None
    trigger_bracket_gtc: BracketOrder | None = None
    trigger_bracket_gtd: dict[str, Any] | None = None
    scaled_limit_gtc: dict[str, Any] | None = None
    stop_limit_stop_limit_fok: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k, v in data.items() if v is not None]
            if len(given) != 1:
                raise PydanticCustomError(
                    "one_config", "expected exactly one configuration, got {n}", {"n": len(given)}
                )
        return data

    @model_validator(mode="after")
    def _end_time(self) -> OrderConfiguration:
        key = self.key
        inner = getattr(self, key)
        end_time = getattr(inner, "end_time", None)
        if key in GTD_KEYS and end_time is None:
            raise PydanticCustomError("end_time", "{key}.end_time: required", {"key": key})
        if key not in GTD_KEYS and end_time is not None:
            raise PydanticCustomError("end_time", "{key}.end_time: unknown field", {"key": key})
        return self

    @property
    def key(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    @property
    def order(self) -> MarketOrder | LimitOrder | StopLimitOrder | BracketOrder | dict[str, Any]:
        inner = getattr(self, self.key)
        assert inner is not None
        return inner  # type: ignore[no-any-return]


class CreateOrder(Body):
    """`POST /orders` and `POST /orders/preview` (where `client_order_id` is optional)."""

    client_order_id: Id | None = None
    product_id: ProductId
    side: Side
    order_configuration: OrderConfiguration
    # accepted and ignored (clients send them when set; meaningless on spot here)
    self_trade_prevention_id: Any = None
    leverage: Any = None
    margin_type: Any = None
    retail_portfolio_id: Any = None
    preview_id: Any = None
    attached_order_configuration: Any = None
    sor_preference: Any = None
    prediction_metadata: Any = None


class EditOrder(Body):
    """`POST /orders/edit` and `/orders/edit_preview`: the new total size and prices."""

    order_id: Id
    price: DecimalText
    size: DecimalText
    stop_price: DecimalText | None = None


class BatchCancel(Body):
    order_ids: list[Annotated[str, _text(128)]]

    @model_validator(mode="after")
    def _at_most_100(self) -> BatchCancel:
        if len(self.order_ids) > 100:
            raise PydanticCustomError(
                "too_many", "{n} ids, at most 100 per request", {"n": len(self.order_ids)}
            )
        return self


def parse(model: type[_M], data: Any, where: str = "") -> _M:
    """`data` as `model`, or BadRequest naming the first bad field by its path."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise BadRequest(_message(e.errors()[0], where)) from None


def _message(error: Any, where: str) -> str:
    loc = [str(p) for p in error["loc"]]
    path = ""
    for part in loc:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    path = path or where or "body"
    kind_ = error["type"]
    if kind_ == "missing":
        return f"{path}: required"
    if kind_ == "extra_forbidden":
        return f"{path}: unknown field"
    if kind_ in ("model_type", "model_attributes_type", "dict_type"):
        return f"{path}: expected a JSON object, got {kind(error.get('input'))}"
    if kind_ == "list_type":
        return f"{path}: expected an array of strings, got {kind(error.get('input'))}"
    if kind_ == "literal_error":
        return f"{path}: {str(error.get('input'))[:40]!r} is not one of {error['ctx']['expected']}"
    message = str(error["msg"])
    head, sep, _ = message.partition(": ")
    if sep and " " not in head:  # the message names a field below `path`
        return f"{path}.{message}" if loc else message
    return f"{path}: {message}"
