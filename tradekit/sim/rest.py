"""The simulator's REST half: Coinbase Advanced Trade's `/api/v3/brokerage` on a SimState.

Shapes follow `coinbase_api.md` (and the official SDK's field names where it is unsure):
every number travels as a plain decimal string, times are RFC3339 UTC. What this module
decides where Coinbase's behaviour is unknown or the paper exchange is narrower:

- Orders: `limit_limit_gtc` / `limit_limit_gtd` BUY and SELL, and `stop_limit_stop_limit_gtc`
  / `_gtd` SELL with STOP_DIRECTION_STOP_DOWN, as the paper exchange trades. Other sides,
  directions and Coinbase's other configurations (market, IOC, FOK, bracket, TWAP...)
  get `success: false` with UNSUPPORTED_ORDER_CONFIGURATION. `end_time` must be RFC3339
  and is stored and echoed, but a GTD order never expires here. `post_only` refuses a
  buy at or above the last trade price (INVALID_LIMIT_PRICE_POST_ONLY).
- Rejections: a reason named `PREVIEW_*` goes to `preview_failure_reason` with
  `error` / `new_order_failure_reason` / top-level `failure_reason` set to
  UNKNOWN_FAILURE_REASON; any other reason R goes to those three, with
  `preview_failure_reason` = PREVIEW_R when Coinbase has that value, else
  UNKNOWN_PREVIEW_FAILURE_REASON. A success also carries `failure_reason:
  UNKNOWN_FAILURE_REASON` (as Coinbase's do: decide on `success`).
- A repeated client_order_id returns `success: true` with the existing order (whatever
  the new request says, as long as it is well formed).
- Malformed requests (bad JSON, unknown, missing or mistyped fields, numbers sent as JSON
  numbers, decimal strings that are not plain digits or longer than 24 characters,
  unknown query parameters, bad cursors) get 400 `{"error": "INVALID_ARGUMENT",
  "error_details", "message"}` naming the field; bodies over 64 KiB get 413. An unknown
  order or product named in the path gets 404 `NOT_FOUND`.
- Edits (`POST /orders/edit`): `order_id`, `price` and `size` required (size is the new
  total size), `stop_price` optional. A stop-limit is editable only while
  `state.edit_stop_enabled`, else ONLY_LIMIT_ORDER_EDITS_SUPPORTED (Coinbase documents
  edits of limit GTC orders only). The reply is `{"success", "success_response":
  {"order_id"}, "errors": [{"edit_failure_reason", "preview_failure_reason"}],
  "error_response": {"edit_order_failure_reason", "error_details"}}` (both shapes the
  SDK reads).
- Lists are newest first. Cursors are opaque strings (a position in the simulator's
  append-only order / fill list, so new orders never shift a page); `has_next` says
  whether another page follows. Default / maximum `limit`: orders and fills 100 / 1000,
  accounts 49 / 250.
- Candles come from the trades the market printed (`state.history`: one-minute bars of
  the last two days, not kept across a restart); at most 350 per request, newest first,
  empty buckets omitted. The book (`/best_bid_ask`,
  `/product_book`) is the market driver's synthetic book around the last price.
- Rate limits: a token bucket per API key (private, `state.rate_limit_per_s`) and per
  client IP (public, `state.public_rate_limit_per_s`), holding one second's worth.
  Every answer carries `x-ratelimit-limit` (requests per second), `x-ratelimit-remaining`
  (whole requests left now) and `x-ratelimit-reset` (seconds, decimal, until the bucket
  is full again); past the limit: 429 with a JSON body (clients must key on the status).
- Faults (`state.faults`), authenticated calls only (or the one endpoint `faults.only`
  names), in this order: `rest_delay_s` sleep; `rest_error_rate` -> 500 before anything
  is done; `timeout_rate` -> sleep `timeout_s` then 504, nothing done; `lose_reply_rate`
  -> the call is done, then 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, NoReturn, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tradekit.core.money import ProductSpec
from tradekit.core.orders import OrderSide, OrderStatus, OrderType
from tradekit.exchange.types import ExchangeOrder, Fill
from tradekit.sim.auth import AuthError, verify_rest_jwt
from tradekit.sim.meta import (
    CONFIG_KEYS,
    LIMIT_GTC,
    LIMIT_GTD,
    STOP_LIMIT_GTC,
    STOP_LIMIT_GTD,
    OrderMeta,
)
from tradekit.sim.state import SimState

__all__ = ["API", "MAX_BODY", "RateLimiter", "rest_routes"]

log = logging.getLogger("tradekit.sim")
_T = TypeVar("_T")

API = "/api/v3/brokerage"
MAX_BODY = 64 * 1024  # bytes: a bigger request body gets 413
_DRAIN = 1024 * 1024  # read (and drop) this much of an oversized body before answering
_NUM_MAX = 24  # characters in a decimal string (keeps the exact ledger maths in range)
_NUM_RE = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
_NS = 1_000_000_000
MAX_CANDLES = 350
GRANULARITIES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
_UNSUPPORTED_CONFIGS = frozenset(
    {
        "market_market_ioc",
        "market_market_fok",
        "sor_limit_ioc",
        "limit_limit_fok",
        "twap_limit_gtd",
        "trigger_bracket_gtc",
        "trigger_bracket_gtd",
        "scaled_limit_gtc",
        "stop_limit_stop_limit_fok",
    }
)
_CREATE_FIELDS = frozenset(
    {
        "client_order_id",
        "product_id",
        "side",
        "order_configuration",
        # accepted and ignored (the SDK sends them when set; meaningless on spot here)
        "self_trade_prevention_id",
        "leverage",
        "margin_type",
        "retail_portfolio_id",
        "preview_id",
    }
)
_PREVIEW_OF = frozenset(
    {
        "INSUFFICIENT_FUND",
        "INVALID_LIMIT_PRICE_POST_ONLY",
        "INVALID_LIMIT_PRICE",
        "INVALID_PRICE_PRECISION",
        "INVALID_SIZE_PRECISION",
        "INVALID_PRODUCT_ID",
        "INVALID_SIDE",
        "INVALID_NO_LIQUIDITY",
        "UNTRADABLE_PRODUCT",
    }
)
_STATUSES = frozenset(
    {
        "PENDING",
        "OPEN",
        "FILLED",
        "CANCELLED",
        "EXPIRED",
        "FAILED",
        "UNKNOWN_ORDER_STATUS",
        "QUEUED",
        "CANCEL_QUEUED",
    }
)
_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "USD": "US Dollar"}
_FIAT = frozenset({"USD", "EUR", "GBP"})
_ID_NS = uuid.UUID("0c4b7a52-3d0e-5b8f-a1c2-6e9d8f7a5b31")


# ------------------------------------------------------------------------ errors


class BadRequest(Exception):
    """A malformed request: 400 INVALID_ARGUMENT with this message."""


class NotFound(Exception):
    """The order or product named in the path does not exist: 404 NOT_FOUND."""


class TooLarge(Exception):
    """The body is over MAX_BODY: 413."""


def _error(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": error, "error_details": message, "message": message}, status, headers
    )


def _bad(message: str) -> NoReturn:
    raise BadRequest(message)


# -------------------------------------------------------------------- formatting


def dec(value: Decimal) -> str:
    """A Decimal as Coinbase sends numbers: plain digits, never an exponent, no '-0'."""
    if not value:
        return "0"
    return format(value, "f")


def rfc3339(ns: int) -> str:
    """Unix nanoseconds as RFC3339 UTC with microseconds, e.g. 2024-01-02T03:04:05.678901Z."""
    secs, rest = divmod(ns, _NS)
    dt = datetime.fromtimestamp(secs, UTC).replace(microsecond=rest // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str, where: str) -> int:
    """RFC3339 -> unix nanoseconds (microsecond precision)."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        _bad(f"{where}: {text!r} is not an RFC3339 time")
    if dt.tzinfo is None:
        _bad(f"{where}: {text!r} has no time zone")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1000


def _render(content: Any) -> bytes:
    return json.dumps(content, separators=(",", ":"), default=_json_default).encode()


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):  # only ever echoed back from a request
        return dec(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return _render(content)


# ---------------------------------------------------------------- request input


async def _read_json(request: Request) -> Any:
    """The body as JSON: refuses >64 KiB, duplicate keys, NaN and malformed text."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            _bad("Content-Length is not a number")
        if declared > MAX_BODY:
            await _drain(request, 0)
            raise TooLarge
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            await _drain(request, total)
            raise TooLarge
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        _bad("the request body is empty: expected a JSON object")
    try:
        return json.loads(
            body,
            parse_float=Decimal,
            parse_constant=_no_constant,
            object_pairs_hook=_no_duplicates,
        )
    except BadRequest:
        raise
    except (ValueError, RecursionError) as e:
        _bad(f"the request body is not valid JSON ({type(e).__name__})")


async def _drain(request: Request, seen: int) -> None:
    """Read what remains of an oversized body (up to 1 MiB) so the 413 reaches the client."""
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > _DRAIN:
                break
    except Exception:  # the client went away: nothing to answer anyway
        pass


def _no_constant(name: str) -> NoReturn:
    _bad(f"{name} is not allowed in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            _bad(f"{key}: given twice")
        out[key] = value
    return out


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _bad(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a JSON number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _fields(
    obj: dict[str, Any], allowed: Iterable[str], required: Iterable[str], where: str
) -> None:
    allowed = frozenset(allowed)
    for name in obj:
        if name not in allowed:
            _bad(f"{where}{name}: unknown field")
    for name in required:
        if obj.get(name) is None:
            _bad(f"{where}{name}: required")


def _string(obj: dict[str, Any], name: str, where: str = "", max_len: int = 256) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        _bad(f"{where}{name}: expected a string, got {_kind(value)}")
    if not value:
        _bad(f"{where}{name}: must not be empty")
    if len(value) > max_len:
        _bad(f"{where}{name}: longer than {max_len} characters")
    return value


def _decimal_text(value: object, what: str) -> Decimal:
    if not isinstance(value, str):
        _bad(f'{what}: expected a decimal string such as "0.01", got {_kind(value)}')
    if len(value) > _NUM_MAX or not _NUM_RE.fullmatch(value):
        _bad(f"{what}: {value[:40]!r} is not a plain decimal string of at most {_NUM_MAX} chars")
    return Decimal(value)


def _decimal(obj: dict[str, Any], name: str, where: str = "") -> Decimal:
    return _decimal_text(obj.get(name), f"{where}{name}")


def _bool(obj: dict[str, Any], name: str, where: str = "") -> bool:
    value = obj.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        _bad(f"{where}{name}: expected true or false, got {_kind(value)}")
    return value


class _Query:
    """Query parameters: unknown names refused, repeated names are lists."""

    def __init__(self, request: Request, allowed: Iterable[str]) -> None:
        self.params = request.query_params
        allowed = frozenset(allowed)
        for name in self.params:
            if name not in allowed:
                _bad(f"{name}: unknown query parameter")

    def many(self, name: str) -> list[str]:
        return [v for v in self.params.getlist(name) if v != ""]

    def one(self, name: str) -> str | None:
        values = self.many(name)
        if len(values) > 1:
            _bad(f"{name}: given {len(values)} times")
        return values[0] if values else None

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        text = self.one(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            _bad(f"{name}: {text[:40]!r} is not an integer")
        if value < lo:
            _bad(f"{name}: {value} is below {lo}")
        return min(value, hi)

    def cursor(self) -> int | None:
        text = self.one("cursor")
        if text is None:
            return None
        if not text.isdigit() or len(text) > 18:
            _bad(f"cursor: {text[:40]!r} is not a cursor this server gave")
        return int(text)


# --------------------------------------------------------------------- rate limits


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by name (an API key, a client IP); one second's worth of burst.

    Times come from the event loop's monotonic clock; rates are read on every call, so
    a changed `state.rate_limit_per_s` takes effect at once.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, name: str, rate: float) -> tuple[bool, dict[str, str]]:
        now = self._clock()
        capacity = max(1.0, rate)
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._prune(now, rate)
            bucket = self._buckets[name] = _Bucket(capacity, now)
        elif rate > 0:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        allowed = bucket.tokens >= 1.0
        if allowed:
            bucket.tokens -= 1.0
        reset = (capacity - bucket.tokens) / rate if rate > 0 else 0.0
        headers = {
            "x-ratelimit-limit": str(int(capacity)),
            "x-ratelimit-remaining": str(int(bucket.tokens)),
            "x-ratelimit-reset": f"{reset:.3f}",
        }
        return allowed, headers

    def _prune(self, now: float, rate: float) -> None:
        """Forget buckets idle long enough to be full again (they restart full)."""
        idle = 1.0 + (1.0 / rate if rate > 0 else 0.0)
        for name in [n for n, b in self._buckets.items() if now - b.updated > idle]:
            del self._buckets[name]


# ------------------------------------------------------------------------ views


def _order_meta(state: SimState, o: ExchangeOrder) -> OrderMeta:
    meta = state.meta.get(o.client_order_id)
    if meta is not None:
        return meta
    if o.order_type is OrderType.STOP_LIMIT:  # placed around REST (tests, the engine)
        return OrderMeta(STOP_LIMIT_GTC, stop_direction="STOP_DIRECTION_STOP_DOWN")
    return OrderMeta(LIMIT_GTC)


def order_configuration(state: SimState, o: ExchangeOrder) -> dict[str, Any]:
    """The order's configuration as placed, with its current (edited) size and prices."""
    meta = _order_meta(state, o)
    body: dict[str, Any] = {"base_size": dec(o.size), "limit_price": dec(o.limit_price)}
    if o.order_type is OrderType.STOP_LIMIT:
        body["stop_price"] = "" if o.stop_price is None else dec(o.stop_price)
        body["stop_direction"] = meta.stop_direction or "STOP_DIRECTION_STOP_DOWN"
    else:
        body["post_only"] = meta.post_only
    if meta.end_time is not None:
        body["end_time"] = meta.end_time
    return {meta.config_key: body}


def order_json(state: SimState, o: ExchangeOrder) -> dict[str, Any]:
    """One order as `GET /orders/historical/{id}` gives it (coinbase_api.md, "Order")."""
    ex = state.exchange
    meta = _order_meta(state, o)
    fills = ex.list_fills(order_id=o.order_id)
    with localcontext() as ctx:
        ctx.prec = 40
        average = o.filled_value / o.filled_size if o.filled_size else Decimal(0)
        done = (o.filled_size / o.size * 100).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    after_fees = (
        o.filled_value + o.total_fees if o.side is OrderSide.BUY else o.filled_value - o.total_fees
    )
    if o.order_type is OrderType.LIMIT:
        trigger = "INVALID_ORDER_TYPE"
    else:
        trigger = "STOP_TRIGGERED" if o.triggered else "STOP_PENDING"
    terminal = o.status in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED)
    return {
        "order_id": o.order_id,
        "product_id": o.product_id,
        "user_id": state.uuid,
        "order_configuration": order_configuration(state, o),
        "side": o.side.value,
        "client_order_id": o.client_order_id,
        "status": o.status.value,
        "time_in_force": meta.time_in_force,
        "created_time": rfc3339(o.created_ts),
        "completion_percentage": dec(done.normalize()),
        "filled_size": dec(o.filled_size),
        "average_filled_price": dec(average),
        "fee": "",
        "number_of_fills": str(len(fills)),
        "filled_value": dec(o.filled_value),
        "pending_cancel": False,
        "size_in_quote": False,
        "total_fees": dec(o.total_fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": dec(after_fees),
        "trigger_status": trigger,
        "order_type": o.order_type.value,
        "reject_reason": "",
        "settled": terminal,
        "product_type": "SPOT",
        "reject_message": "",
        "cancel_message": "User requested cancel" if o.status is OrderStatus.CANCELLED else "",
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": dec(ex.order_hold(o.order_id)),
        "is_liquidation": False,
        "last_fill_time": rfc3339(fills[-1].ts) if fills else None,
        "edit_history": [
            {
                "price": dec(e.price),
                "size": dec(e.size),
                "replace_accept_timestamp": rfc3339(e.ts),
            }
            for e in meta.edits
        ],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": state.uuid,
        "originating_order_id": "",
        "attached_order_id": "",
    }


def fill_json(state: SimState, f: Fill) -> dict[str, Any]:
    when = rfc3339(f.ts)
    return {
        "entry_id": str(uuid.uuid5(_ID_NS, f"entry/{f.trade_id}")),
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "trade_time": when,
        "trade_type": "FILL",
        "price": dec(f.price),
        "size": dec(f.size),
        "commission": dec(f.commission),
        "product_id": f.product_id,
        "sequence_timestamp": when,
        "liquidity_indicator": f.liquidity,
        "size_in_quote": False,
        "user_id": state.uuid,
        "side": f.side.value,
        "retail_portfolio_id": state.uuid,
    }


def account_uuid(state: SimState, currency: str) -> str:
    return str(uuid.uuid5(_ID_NS, f"{state.uuid}/account/{currency}"))


def _accounts(state: SimState) -> list[dict[str, Any]]:
    out = []
    for currency, bal in state.exchange.balances().items():
        fiat = currency in _FIAT
        out.append(
            {
                "uuid": account_uuid(state, currency),
                "name": f"{currency} Wallet",
                "currency": currency,
                "available_balance": {"value": dec(bal.available), "currency": currency},
                "default": fiat,
                "active": True,
                "created_at": "2024-01-01T00:00:00Z",
                "updated_at": rfc3339(state.now()),
                "deleted_at": None,
                "type": "ACCOUNT_TYPE_FIAT" if fiat else "ACCOUNT_TYPE_CRYPTO",
                "ready": True,
                "hold": {"value": dec(bal.hold), "currency": currency},
                "retail_portfolio_id": state.uuid,
                "platform": "ACCOUNT_PLATFORM_CONSUMER",
            }
        )
    return out


def product_json(state: SimState, spec: ProductSpec) -> dict[str, Any]:
    last = state.exchange.last_price(spec.product_id)
    day = _day(state, spec.product_id)
    base, quote = spec.base_currency, spec.quote_currency
    volume = day[0]
    change = day[1]
    return {
        "product_id": spec.product_id,
        "price": "" if last is None else dec(last),
        "price_percentage_change_24h": "" if change is None else dec(change),
        "volume_24h": dec(volume),
        "volume_percentage_change_24h": "0",
        "base_increment": dec(spec.base_increment),
        "quote_increment": dec(spec.quote_increment),
        "quote_min_size": dec(spec.quote_min_size),
        "quote_max_size": "",
        "base_min_size": dec(spec.base_min_size),
        "base_max_size": "" if spec.base_max_size is None else dec(spec.base_max_size),
        "base_name": _NAMES.get(base, base),
        "quote_name": _NAMES.get(quote, quote),
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": False,
        "post_only": False,
        "trading_disabled": False,
        "auction_mode": False,
        "product_type": "SPOT",
        "quote_currency_id": quote,
        "base_currency_id": base,
        "fcm_trading_session_details": None,
        "mid_market_price": "",
        "alias": "",
        "alias_to": [],
        "base_display_symbol": base,
        "quote_display_symbol": quote,
        "view_only": False,
        "price_increment": dec(spec.quote_increment),
        "display_name": spec.product_id,
        "product_venue": "CBE",
        "approximate_quote_24h_volume": dec(day[2]),
    }


def _day(state: SimState, product_id: str) -> tuple[Decimal, Decimal | None, Decimal]:
    """(volume, price change in percent, approximate quote volume) over the last 24 h.

    From `state.history`'s one-minute bars: the quote volume is the volume at the last
    price (Coinbase calls that figure approximate too).
    """
    past = state.history.get(product_id)
    stats = None if past is None else past.day_stats()
    last = None if past is None or past.last is None else past.last.price
    if stats is None or last is None:
        return Decimal(0), None, Decimal(0)
    change = None
    if stats.open:
        with localcontext() as ctx:
            ctx.prec = 28
            change = (last - stats.open) / stats.open * 100
            change = change.quantize(Decimal("0.00000001")).normalize()
    return stats.volume, change, stats.volume * last


def candles(
    state: SimState, product_id: str, start_s: int, end_s: int, granularity_s: int
) -> list[dict[str, str]]:
    """Candles overlapping [start_s, end_s), newest first; buckets without trades omitted.

    Built from `state.history`'s one-minute bars (the last two days are kept).
    """
    past = state.history.get(product_id)
    if past is None:
        return []
    first = start_s - start_s % granularity_s
    bars = past.candles(granularity_s, first * _NS, end_s * _NS)
    return [
        {
            "start": str(c.start // _NS),
            "low": dec(c.low),
            "high": dec(c.high),
            "open": dec(c.open),
            "close": dec(c.close),
            "volume": dec(c.volume),
        }
        for c in reversed(bars)
    ]


def _book(state: SimState, spec: ProductSpec, levels: int) -> dict[str, Any]:
    last = state.exchange.last_price(spec.product_id)
    bids: list[tuple[Decimal, Decimal]] = []
    asks: list[tuple[Decimal, Decimal]] = []
    if last is not None and levels > 0:
        from tradekit.sim.market import synth_book

        bids, asks = synth_book(spec, last, levels)
    return {
        "product_id": spec.product_id,
        "bids": [{"price": dec(p), "size": dec(s)} for p, s in bids],
        "asks": [{"price": dec(p), "size": dec(s)} for p, s in asks],
        "time": rfc3339(state.now()),
    }


# ------------------------------------------------------------------- handlers


Handler = Callable[[Request], Awaitable[Response]]


class _Api:
    """The endpoints, sharing one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    # ---------------------------------------------------------------- orders

    async def create_order(self, request: Request) -> Response:
        body = _object(await _read_json(request), "body")
        _fields(body, _CREATE_FIELDS, ("client_order_id", "product_id", "side"), "")
        coid = _string(body, "client_order_id", max_len=128)
        product_id = _string(body, "product_id", max_len=64)
        side = _string(body, "side", max_len=16)
        if "order_configuration" not in body:
            _bad("order_configuration: required")
        config = _object(body["order_configuration"], "order_configuration")
        if len(config) != 1:
            _bad(f"order_configuration: expected exactly one configuration, got {len(config)}")
        ((key, inner),) = config.items()
        where = f"order_configuration.{key}."
        if key not in CONFIG_KEYS and key not in _UNSUPPORTED_CONFIGS:
            _bad(f"order_configuration.{key}: unknown order configuration")
        inner = _object(inner, f"order_configuration.{key}")
        parsed = None if key in _UNSUPPORTED_CONFIGS else _parse_config(key, inner, where)

        state = self.state
        existing = state.exchange.get_order_by_client_id(coid)
        if existing is not None:
            return _Json(_created(state, existing))

        def refuse(reason: str, message: str) -> Response:
            return _Json(_create_failure(reason, message, config))

        if side not in ("BUY", "SELL"):
            return refuse("INVALID_SIDE", f"side {side!r} is not BUY or SELL")
        if parsed is None:
            return refuse("UNSUPPORTED_ORDER_CONFIGURATION", f"{key} is not supported here")
        size, limit, stop, meta = parsed
        if stop is not None and (
            side != "SELL" or meta.stop_direction != "STOP_DIRECTION_STOP_DOWN"
        ):
            return refuse(
                "UNSUPPORTED_ORDER_CONFIGURATION",
                "the simulator trades stop-limit orders as SELL with STOP_DIRECTION_STOP_DOWN only",
            )
        if product_id not in state.exchange.products:
            return refuse("INVALID_PRODUCT_ID", f"ProductID {product_id!r} is invalid")
        last = state.exchange.last_price(product_id)
        if meta.post_only and last is not None and limit >= last:
            return refuse(
                "INVALID_LIMIT_PRICE_POST_ONLY",
                f"post-only limit {limit} is at or above the last trade price {last}",
            )
        state.meta.stage(coid, meta)
        try:
            if stop is None and side == "SELL":
                res = state.place_limit_sell(coid, product_id, size, limit)
            elif stop is None:
                res = state.place_limit_buy(coid, product_id, size, limit)
            else:
                res = state.place_stop_limit(coid, product_id, size, stop, limit)
        finally:
            if state.exchange.get_order_by_client_id(coid) is not None:
                state.meta.commit(coid)
            else:
                state.meta.discard(coid)
        if not res.success or res.order_id is None:
            return refuse(res.failure_reason or "UNKNOWN_FAILURE_REASON", res.message)
        order = state.exchange.get_order(res.order_id)
        assert order is not None
        return _Json(_created(state, order))

    async def batch_cancel(self, request: Request) -> Response:
        body = _object(await _read_json(request), "body")
        _fields(body, ("order_ids",), ("order_ids",), "")
        ids = body["order_ids"]
        if not isinstance(ids, list):
            _bad(f"order_ids: expected an array of strings, got {_kind(ids)}")
        if len(ids) > 100:
            _bad(f"order_ids: {len(ids)} ids, at most 100 per request")
        for i, order_id in enumerate(ids):
            if not isinstance(order_id, str) or not order_id:
                _bad(f"order_ids[{i}]: expected a non-empty string, got {_kind(order_id)}")
        results = []
        for order_id in ids:
            res = self.state.cancel_order(order_id)
            results.append(
                {
                    "success": res.success,
                    "failure_reason": res.failure_reason or "UNKNOWN_CANCEL_FAILURE_REASON",
                    "order_id": order_id,
                }
            )
        return _Json({"results": results})

    async def edit_order(self, request: Request) -> Response:
        body = _object(await _read_json(request), "body")
        _fields(
            body, ("order_id", "price", "size", "stop_price"), ("order_id", "price", "size"), ""
        )
        order_id = _string(body, "order_id", max_len=128)
        price = _decimal(body, "price")
        size = _decimal(body, "size")
        stop = None if body.get("stop_price") is None else _decimal(body, "stop_price")
        res = self.state.edit_order(order_id, size, price, stop)
        if res.success:
            return _Json(
                {"success": True, "success_response": {"order_id": order_id}, "errors": []}
            )
        reason = res.failure_reason or "UNKNOWN_EDIT_ORDER_FAILURE_REASON"
        preview = reason.startswith("PREVIEW_")
        edit_reason = "UNKNOWN_EDIT_ORDER_FAILURE_REASON" if preview else reason
        return _Json(
            {
                "success": False,
                "errors": [
                    {
                        "edit_failure_reason": edit_reason,
                        "preview_failure_reason": (
                            reason if preview else "UNKNOWN_PREVIEW_FAILURE_REASON"
                        ),
                    }
                ],
                "error_response": {
                    "edit_order_failure_reason": edit_reason,
                    "error_details": res.message or reason,
                },
            }
        )

    async def get_order(self, request: Request) -> Response:
        _Query(request, ("client_order_id", "user_native_currency"))
        order_id = request.path_params["order_id"]
        order = self.state.exchange.get_order(order_id)
        if order is None:
            raise NotFound("order with this orderID was not found")
        return _Json({"order": order_json(self.state, order)})

    async def list_orders(self, request: Request) -> Response:
        q = _Query(
            request,
            (
                "order_ids",
                "product_ids",
                "product_id",
                "order_status",
                "limit",
                "cursor",
                "start_date",
                "end_date",
                "order_types",
                "order_side",
                "product_type",
                "order_placement_source",
                "contract_expiry_type",
                "asset_filters",
                "retail_portfolio_id",
                "time_in_forces",
                "sort_by",
                "user_native_currency",
            ),
        )
        order_ids = set(q.many("order_ids"))
        products = set(q.many("product_ids") + q.many("product_id"))
        statuses = set(q.many("order_status"))
        for s in statuses:
            if s not in _STATUSES:
                _bad(f"order_status: {s[:40]!r} is not an order status")
        types = set(q.many("order_types"))
        side = q.one("order_side")
        if side is not None and side not in ("BUY", "SELL"):
            _bad(f"order_side: {side[:40]!r} is not BUY or SELL")
        start = q.one("start_date")
        end = q.one("end_date")
        start_ns = None if start is None else _parse_time(start, "start_date")
        end_ns = None if end is None else _parse_time(end, "end_date")
        limit = q.integer("limit", 100, 1, 1000)
        cursor = q.cursor()

        def keep(o: ExchangeOrder) -> bool:
            return (
                (not order_ids or o.order_id in order_ids)
                and (not products or o.product_id in products)
                and (not statuses or o.status.value in statuses)
                and (not types or o.order_type.value in types)
                and (side is None or o.side.value == side)
                and (start_ns is None or o.created_ts >= start_ns)
                and (end_ns is None or o.created_ts < end_ns)
            )

        page, next_cursor = _page(self.state.exchange.list_orders(), keep, limit, cursor)
        return _Json(
            {
                "orders": [order_json(self.state, o) for o in page],
                "sequence": "0",
                "has_next": next_cursor is not None,
                "cursor": "" if next_cursor is None else str(next_cursor),
            }
        )

    async def list_fills(self, request: Request) -> Response:
        q = _Query(
            request,
            (
                "order_ids",
                "trade_ids",
                "product_ids",
                "order_id",
                "product_id",
                "start_sequence_timestamp",
                "end_sequence_timestamp",
                "retail_portfolio_id",
                "limit",
                "cursor",
                "sort_by",
            ),
        )
        order_ids = set(q.many("order_ids") + q.many("order_id"))
        trade_ids = set(q.many("trade_ids"))
        products = set(q.many("product_ids") + q.many("product_id"))
        start = q.one("start_sequence_timestamp")
        end = q.one("end_sequence_timestamp")
        start_ns = None if start is None else _parse_time(start, "start_sequence_timestamp")
        end_ns = None if end is None else _parse_time(end, "end_sequence_timestamp")
        limit = q.integer("limit", 100, 1, 1000)
        cursor = q.cursor()

        def keep(f: Fill) -> bool:
            return (
                (not order_ids or f.order_id in order_ids)
                and (not trade_ids or f.trade_id in trade_ids)
                and (not products or f.product_id in products)
                and (start_ns is None or f.ts >= start_ns)
                and (end_ns is None or f.ts < end_ns)
            )

        page, next_cursor = _page(self.state.exchange.list_fills(), keep, limit, cursor)
        return _Json(
            {
                "fills": [fill_json(self.state, f) for f in page],
                "cursor": "" if next_cursor is None else str(next_cursor),
            }
        )

    # -------------------------------------------------------------- accounts

    async def list_accounts(self, request: Request) -> Response:
        q = _Query(request, ("limit", "cursor", "retail_portfolio_id"))
        limit = q.integer("limit", 49, 1, 250)
        cursor = q.cursor() or 0
        accounts = _accounts(self.state)
        page = accounts[cursor : cursor + limit]
        more = cursor + limit < len(accounts)
        return _Json(
            {
                "accounts": page,
                "has_next": more,
                "cursor": str(cursor + limit) if more else "",
                "size": len(page),
            }
        )

    async def get_account(self, request: Request) -> Response:
        _Query(request, ())
        wanted = request.path_params["account_uuid"]
        for account in _accounts(self.state):
            if account["uuid"] == wanted:
                return _Json({"account": account})
        raise NotFound("account not found")

    # ------------------------------------------------------------ market data

    def _spec(self, product_id: str) -> ProductSpec:
        spec = self.state.exchange.products.get(product_id)
        if spec is None:
            raise NotFound(f"product {product_id[:64]!r} not found")
        return spec

    async def list_products(self, request: Request) -> Response:
        q = _Query(
            request,
            (
                "limit",
                "offset",
                "product_type",
                "product_ids",
                "contract_expiry_type",
                "expiring_contract_status",
                "get_tradability_status",
                "get_all_products",
                "products_sort_order",
            ),
        )
        wanted = set(q.many("product_ids"))
        product_type = q.one("product_type")
        limit = q.integer("limit", 1000, 0, 10_000) or 10_000  # 0: no limit
        offset = q.integer("offset", 0, 0, 10**9)
        specs = [
            spec
            for pid, spec in sorted(self.state.exchange.products.items())
            if (not wanted or pid in wanted) and product_type in (None, "SPOT")
        ]
        page = specs[offset : offset + limit]
        return _Json(
            {
                "products": [product_json(self.state, s) for s in page],
                "num_products": len(specs),
            }
        )

    async def get_product(self, request: Request) -> Response:
        _Query(request, ("get_tradability_status",))
        spec = self._spec(request.path_params["product_id"])
        return _Json(product_json(self.state, spec))

    async def get_candles(self, request: Request) -> Response:
        q = _Query(request, ("start", "end", "granularity", "limit"))
        spec = self._spec(request.path_params["product_id"])
        granularity = q.one("granularity")
        if granularity is None:
            _bad("granularity: required")
        if granularity not in GRANULARITIES:
            _bad(f"granularity: {granularity[:40]!r} is not one of {', '.join(GRANULARITIES)}")
        step = GRANULARITIES[granularity]
        start_text, end_text = q.one("start"), q.one("end")
        if start_text is None or end_text is None:
            _bad("start and end: required (unix seconds)")
        try:
            start, end = int(start_text), int(end_text)
        except ValueError:
            _bad("start, end: expected unix seconds as integers")
        if end <= start:
            _bad("end: must be after start")
        limit = q.integer("limit", MAX_CANDLES, 1, MAX_CANDLES)
        wanted = -(-(end - start) // step)
        if wanted > MAX_CANDLES:
            _bad(
                f"start, end: {wanted} candles requested, at most {MAX_CANDLES} per request "
                "(narrow the range or use a coarser granularity)"
            )
        out = candles(self.state, spec.product_id, start, end, step)
        return _Json({"candles": out[:limit]})

    async def best_bid_ask(self, request: Request) -> Response:
        q = _Query(request, ("product_ids",))
        wanted = q.many("product_ids") or sorted(self.state.exchange.products)
        books = []
        for product_id in wanted:
            spec = self.state.exchange.products.get(product_id)
            if spec is None:
                _bad("ProductID is invalid")
            books.append(_book(self.state, spec, 1))
        return _Json({"pricebooks": books})

    async def product_book(self, request: Request) -> Response:
        q = _Query(request, ("product_id", "limit", "aggregation_price_increment"))
        product_id = q.one("product_id")
        if product_id is None:
            _bad("product_id: required")
        spec = self.state.exchange.products.get(product_id)
        if spec is None:
            _bad("ProductID is invalid")
        levels = q.integer("limit", 50, 0, 500) or 50
        book = _book(self.state, spec, levels)
        last = self.state.exchange.last_price(product_id)
        out: dict[str, Any] = {"pricebook": book, "last": "" if last is None else dec(last)}
        if book["bids"] and book["asks"]:
            bid = Decimal(book["bids"][0]["price"])
            ask = Decimal(book["asks"][0]["price"])
            mid = (bid + ask) / 2
            out["mid_market"] = dec(mid)
            out["spread_absolute"] = dec(ask - bid)
            bps = ((ask - bid) / mid * 10_000).quantize(Decimal("0.0001"))
            out["spread_bps"] = dec(bps.normalize())
        else:
            out.update(mid_market="", spread_absolute="", spread_bps="")
        return _Json(out)

    async def server_time(self, request: Request) -> Response:
        _Query(request, ())
        now = self.state.now()
        return _Json(
            {
                "iso": rfc3339(now),
                "epochSeconds": str(now // _NS),
                "epochMillis": str(now // 1_000_000),
            }
        )


def _parse_config(
    key: str, inner: dict[str, Any], where: str
) -> tuple[Decimal, Decimal, Decimal | None, OrderMeta] | None:
    """(size, limit, stop or None, meta) of a supported configuration; None: refuse it."""
    stop_kind = key in (STOP_LIMIT_GTC, STOP_LIMIT_GTD)
    gtd = key in (LIMIT_GTD, STOP_LIMIT_GTD)
    allowed = ["base_size", "quote_size", "limit_price", "end_time"]
    required = ["limit_price"]
    if stop_kind:
        allowed += ["stop_price", "stop_direction"]
        required += ["stop_price", "stop_direction"]
    else:
        allowed.append("post_only")
    if gtd:
        required.append("end_time")
    _fields(inner, allowed if gtd else [a for a in allowed if a != "end_time"], required, where)
    if inner.get("base_size") is None:
        if inner.get("quote_size") is not None:
            _decimal(inner, "quote_size", where)
            return None  # sizes in quote: not supported here
        _bad(f"{where}base_size: required")
    size = _decimal(inner, "base_size", where)
    limit = _decimal(inner, "limit_price", where)
    stop = _decimal(inner, "stop_price", where) if stop_kind else None
    end_time = None
    if gtd:
        end_time = _string(inner, "end_time", where, max_len=64)
        _parse_time(end_time, f"{where}end_time")
    direction = None
    if stop_kind:
        direction = _string(inner, "stop_direction", where, max_len=64)
        if direction not in ("STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN"):
            _bad(f"{where}stop_direction: {direction[:40]!r} is not a stop direction")
    post_only = False if stop_kind else _bool(inner, "post_only", where)
    return size, limit, stop, OrderMeta(key, post_only, end_time, direction)


def _created(state: SimState, order: ExchangeOrder) -> dict[str, Any]:
    return {
        "success": True,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": order.order_id,
        "success_response": {
            "order_id": order.order_id,
            "product_id": order.product_id,
            "side": order.side.value,
            "client_order_id": order.client_order_id,
        },
        "order_configuration": order_configuration(state, order),
    }


def _create_failure(reason: str, message: str, config: dict[str, Any]) -> dict[str, Any]:
    if reason.startswith("PREVIEW_"):
        order_reason, preview = "UNKNOWN_FAILURE_REASON", reason
    else:
        order_reason = reason
        preview = f"PREVIEW_{reason}" if reason in _PREVIEW_OF else "UNKNOWN_PREVIEW_FAILURE_REASON"
    return {
        "success": False,
        "failure_reason": order_reason,
        "order_id": "",
        "error_response": {
            "error": order_reason,
            "message": message or reason,
            "error_details": message or reason,
            "preview_failure_reason": preview,
            "new_order_failure_reason": order_reason,
        },
        "order_configuration": config,
    }


def _page(
    items: Sequence[_T], keep: Callable[[_T], bool], limit: int, cursor: int | None
) -> tuple[list[_T], int | None]:
    """Newest-first page of `items` (oldest first, append-only) below position `cursor`.

    Returns the page and the next cursor (the position of its last item), or None when
    nothing older matches.
    """
    i = len(items) if cursor is None else min(cursor, len(items))
    page: list[_T] = []
    while i > 0:
        i -= 1
        if keep(items[i]):
            if len(page) == limit:
                return page, i + 1
            page.append(items[i])
    return page, None


# ------------------------------------------------------------------ the wrapper


def _client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "?"


def _signed_path(request: Request) -> str:
    """The path as the client sent it (what it signed), without the query string."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        return raw.decode("latin-1").split("?", 1)[0]
    return request.url.path


def _guard(handler: Handler) -> Handler:
    """Turn BadRequest / NotFound / TooLarge into their answers."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as e:
            return _error(400, "INVALID_ARGUMENT", str(e))
        except NotFound as e:
            return _error(404, "NOT_FOUND", str(e))
        except TooLarge:
            return _error(413, "PAYLOAD_TOO_LARGE", f"the request body is over {MAX_BODY} bytes")

    return guarded


def _matches(only: str, request: Request) -> bool:
    """Does `only` ("METHOD /path", prefix optional) name this request?"""
    method, _, path = only.partition(" ")
    if method.upper() != request.method:
        return False
    full = request.url.path
    return path in (full, full.removeprefix(API))


def private(state: SimState, limiter: RateLimiter, handler: Handler) -> Handler:
    """Authenticate (401), rate-limit per key (429), apply faults, answer."""
    inner = _guard(handler)

    async def endpoint(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise AuthError("no Bearer token")
            key = verify_rest_jwt(
                state,
                token.strip(),
                request.method,
                request.headers.get("host", ""),
                _signed_path(request),
            )
        except AuthError as e:
            log.info(
                "401 %s %s from %s: %s", request.method, request.url.path, _client_ip(request), e
            )
            return PlainTextResponse("Unauthorized", 401)
        allowed, headers = limiter.take(f"key:{key.name}", state.rate_limit_per_s)
        if not allowed:
            return _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests", headers)
        faults = state.faults
        if faults.only is not None and not _matches(faults.only, request):
            response = await inner(request)
            response.headers.update(headers)
            return response
        if faults.rest_delay_s > 0:
            await asyncio.sleep(faults.rest_delay_s)
        rng = state.rng
        if faults.rest_error_rate > 0 and rng.random() < faults.rest_error_rate:
            return _error(500, "INTERNAL", "simulated server error (fault injection)", headers)
        if faults.timeout_rate > 0 and rng.random() < faults.timeout_rate:
            await asyncio.sleep(faults.timeout_s)
            return _error(504, "DEADLINE_EXCEEDED", "simulated timeout (fault injection)", headers)
        lose = faults.lose_reply_rate > 0 and rng.random() < faults.lose_reply_rate
        response = await inner(request)
        if lose:
            return _error(503, "UNAVAILABLE", "simulated lost reply (fault injection)", headers)
        response.headers.update(headers)
        return response

    return endpoint


def public(state: SimState, limiter: RateLimiter, handler: Handler) -> Handler:
    """No authentication (a token, if sent, is ignored); rate-limited per client IP."""
    inner = _guard(handler)

    async def endpoint(request: Request) -> Response:
        allowed, headers = limiter.take(f"ip:{_client_ip(request)}", state.public_rate_limit_per_s)
        if not allowed:
            return _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests", headers)
        response = await inner(request)
        response.headers.update(headers)
        return response

    return endpoint


def rest_routes(state: SimState, limiter: RateLimiter | None = None) -> list[BaseRoute]:
    """Every `/api/v3/brokerage` route (private and public `/market/...`)."""
    if limiter is None:
        limiter = RateLimiter(time.monotonic)
    api = _Api(state)

    def p(path: str, handler: Handler, method: str = "GET") -> Route:
        return Route(API + path, private(state, limiter, handler), methods=[method])

    def pub(path: str, handler: Handler) -> Route:
        return Route(API + path, public(state, limiter, handler), methods=["GET"])

    return [
        p("/orders", api.create_order, "POST"),
        p("/orders/batch_cancel", api.batch_cancel, "POST"),
        p("/orders/edit", api.edit_order, "POST"),
        p("/orders/historical/batch", api.list_orders),
        p("/orders/historical/fills", api.list_fills),
        p("/orders/historical/{order_id}", api.get_order),
        p("/accounts", api.list_accounts),
        p("/accounts/{account_uuid}", api.get_account),
        p("/products", api.list_products),
        p("/products/{product_id}", api.get_product),
        p("/products/{product_id}/candles", api.get_candles),
        p("/best_bid_ask", api.best_bid_ask),
        p("/product_book", api.product_book),
        pub("/time", api.server_time),
        pub("/market/products", api.list_products),
        pub("/market/products/{product_id}", api.get_product),
        pub("/market/products/{product_id}/candles", api.get_candles),
        pub("/market/product_book", api.product_book),
    ]
