"""`/sim/admin/...`: steer the simulator from a test or a notebook (loopback clients only).

Not part of Coinbase's API and not authenticated with a JWT. Guarded instead (403 with
Coinbase's error shape otherwise): loopback clients only, so even a simulator bound to
another interface on purpose cannot be steered from the network; the server's admin
token in the `X-Tradekit-Admin-Token` header (`SimState.admin_token`, written beside the
key file and shown in the banner), so a web page that reaches 127.0.0.1 cannot; POSTs
with `Content-Type: application/json` only and no foreign `Origin` (no cross-site form
or `text/plain` POST).

- GET /sim/admin/faults -> the faults; POST (JSON `{"name": value, ...}`, as
  `Faults.update`) -> the faults after the change (400 on an unknown name or bad value).
- POST /sim/admin/price `{"product_id", "price", "size"?, "ts"?}`: the market prints a
  trade now (price and size as decimal strings, size default "1", ts default the clock)
  -> `{"fills": [...], "market_seq"}`.
- GET /sim/admin/state -> balances, orders, fills, last prices, faults, settings.
- GET / POST /sim/admin/capabilities `{"edit_stop_enabled": bool}`.
- GET / POST /sim/admin/rate_limits `{"rate_limit_per_s", "public_rate_limit_per_s"}`.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tradekit.core.events import MarketTrade
from tradekit.sim.rest import (
    BadRequest,
    Json,
    TooLarge,
    bad,
    dec,
    error_response,
    fill_json,
    order_json,
)
from tradekit.sim.rest.inputs import read_object
from tradekit.sim.rest.models import Body, DecimalText, ProductId, parse
from tradekit.sim.state import SimState

__all__ = ["ADMIN", "ADMIN_TOKEN_HEADER", "admin_only", "admin_routes", "is_loopback"]

ADMIN = "/sim/admin"
ADMIN_TOKEN_HEADER = "X-Tradekit-Admin-Token"


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for names and None."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


Handler = Callable[[Request], Awaitable[Response]]


def _refusal(state: SimState, request: Request) -> str | None:
    """Why this admin request is refused (403), or None.

    Loopback clients only; the server's admin token in ADMIN_TOKEN_HEADER (a web page
    cannot know it); a POST must say `Content-Type: application/json` (a cross-site form
    or `text/plain` POST cannot), and a browser's Origin must be this server's own.
    """
    host = request.client.host if request.client is not None else None
    if not is_loopback(host):
        return "the admin API answers loopback clients only"
    given = request.headers.get(ADMIN_TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), state.admin_token.encode()):
        return f"the admin API needs the server's admin token in {ADMIN_TOKEN_HEADER}"
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin != own:
            return f"Origin {origin[:100]!r} is not this server"
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "application/json":
            return "a POST to the admin API must be Content-Type: application/json"
    return None


def admin_only(state: SimState, handler: Handler) -> Handler:
    """`handler` behind the admin checks (loopback, the state's token, JSON POSTs), its
    bad requests answered 400 (the classroom's moderator routes use it too)."""
    return _local(state, handler)


def _local(state: SimState, handler: Handler) -> Handler:
    async def endpoint(request: Request) -> Response:
        why = _refusal(state, request)
        if why is not None:
            return error_response(403, "PERMISSION_DENIED", why)
        try:
            return await handler(request)
        except BadRequest as e:
            return error_response(400, "INVALID_ARGUMENT", str(e))
        except TooLarge:
            return error_response(413, "PAYLOAD_TOO_LARGE", "the request body is too large")
        except ClientDisconnect:
            return error_response(499, "CANCELLED", "the client closed the request")

    return endpoint


class PrintTrade(Body):
    """`POST /sim/admin/price`: the market prints one trade."""

    product_id: ProductId
    price: DecimalText
    size: DecimalText = Decimal(1)
    ts: Annotated[int, Field(strict=True, ge=0)] | None = None


def admin_routes(state: SimState) -> list[BaseRoute]:
    trade_counter = [0]

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await read_object(request)
            # rates are fractions, not money: JSON numbers (read as Decimal) become floats
            changes = {k: float(v) if isinstance(v, Decimal) else v for k, v in body.items()}
            try:
                state.faults.update(changes)
            except ValueError as e:
                bad(str(e))
        return JSONResponse(state.faults.as_dict())

    async def price(request: Request) -> Response:
        body = await read_object(request)
        printed = parse(PrintTrade, body)
        product_id, value, size = printed.product_id, printed.price, printed.size
        if product_id not in state.exchange.products:
            bad(f"product_id: unknown product {product_id!r}")
        if value <= 0:
            bad("price: must be positive")
        if size < 0:
            bad("size: must not be negative")
        ts = state.now() if printed.ts is None else printed.ts
        trade_counter[0] += 1
        trade = MarketTrade(product_id, value, size, ts, f"admin-{trade_counter[0]}")
        fills = state.advance(trade)
        return Json(
            {
                "fills": [fill_json(state, f) for f in fills],
                "market_seq": state.exchange.market_seq,
            }
        )

    async def summary(request: Request) -> Response:
        ex = state.exchange
        return Json(
            {
                "balances": {
                    cur: {"available": dec(b.available), "hold": dec(b.hold)}
                    for cur, b in ex.balances().items()
                },
                "orders": [order_json(state, o) for o in ex.list_orders()],
                "fills": [fill_json(state, f) for f in ex.list_fills()],
                "last_prices": {
                    pid: dec(p) for pid in ex.products if (p := ex.last_price(pid)) is not None
                },
                "market_seq": ex.market_seq,
                "faults": state.faults.as_dict(),
                "edit_stop_enabled": state.edit_stop_enabled,
                "rate_limit_per_s": state.rate_limit_per_s,
                "public_rate_limit_per_s": state.public_rate_limit_per_s,
                "ws_subscribers": state.bus.subscribers,
            }
        )

    async def capabilities(request: Request) -> Response:
        if request.method == "POST":
            body = await read_object(request)
            for name, value in body.items():
                if name != "edit_stop_enabled":
                    bad(f"{name}: unknown capability")
                if not isinstance(value, bool):
                    bad(f"{name}: expected true or false")
            if "edit_stop_enabled" in body:
                state.edit_stop_enabled = body["edit_stop_enabled"]
        return JSONResponse({"edit_stop_enabled": state.edit_stop_enabled})

    async def rate_limits(request: Request) -> Response:
        names = ("rate_limit_per_s", "public_rate_limit_per_s")
        if request.method == "POST":
            body = await read_object(request)
            changes: dict[str, Any] = {}
            for name, value in body.items():
                if name not in names:
                    bad(f"{name}: unknown rate limit")
                if isinstance(value, bool) or not isinstance(value, int | Decimal):
                    bad(f"{name}: expected a number of requests per second")
                if value <= 0:
                    bad(f"{name}: must be positive")
                changes[name] = float(value)
            for name, value in changes.items():
                setattr(state, name, value)
        return JSONResponse({name: getattr(state, name) for name in names})

    return [
        Route(f"{ADMIN}/faults", _local(state, faults), methods=["GET", "POST"]),
        Route(f"{ADMIN}/price", _local(state, price), methods=["POST"]),
        Route(f"{ADMIN}/state", _local(state, summary), methods=["GET"]),
        Route(f"{ADMIN}/capabilities", _local(state, capabilities), methods=["GET", "POST"]),
        Route(f"{ADMIN}/rate_limits", _local(state, rate_limits), methods=["GET", "POST"]),
    ]
