"""The simulator's ASGI app: REST, admin and (when present) WebSocket routes on one state.

The WebSocket half lives in `tradekit.sim.ws` (`ws_routes(state)`); it is imported
lazily so that the REST half works on its own (no module, or no `ws_routes`: no
WebSocket routes). Its routes come first, since `/` is one of them.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from tradekit.sim.admin import admin_routes
from tradekit.sim.rest import RateLimiter, error_response, rest_routes
from tradekit.sim.state import SimState

__all__ = ["create_app", "ws_routes_or_none"]

log = logging.getLogger("tradekit.sim")


def ws_routes_or_none(state: SimState) -> list[BaseRoute]:
    """`tradekit.sim.ws.ws_routes(state)`, or [] when that half is not there."""
    try:
        module = importlib.import_module("tradekit.sim.ws")
    except ImportError as e:
        if e.name != "tradekit.sim.ws":
            raise  # the module exists but is broken: say so
        return []
    factory: Any = getattr(module, "ws_routes", None)
    if factory is None:
        return []
    return list(factory(state))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    names = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
    return error_response(exc.status_code, names.get(exc.status_code, "UNKNOWN"), str(exc.detail))


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("500 %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL", "internal error in the simulator (see its log)")


def create_app(state: SimState, limiter: RateLimiter | None = None) -> Starlette:
    """A Starlette app serving `state`: WebSocket, REST and admin routes."""
    routes = [*ws_routes_or_none(state), *rest_routes(state, limiter), *admin_routes(state)]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _crash},
    )
    app.state.sim = state
    return app
