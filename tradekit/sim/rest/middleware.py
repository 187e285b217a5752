"""What wraps every REST endpoint: authentication (401), rate limits (429), fault
injection, and turning the handlers' exceptions into Coinbase's error shape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from tradekit.sim.auth import AuthError, verify_rest_jwt
from tradekit.sim.rest.errors import BadRequest, NotFound, TooLarge, error_response
from tradekit.sim.rest.inputs import MAX_BODY
from tradekit.sim.rest.ratelimit import RateLimiter
from tradekit.sim.state import SimState

__all__ = ["API", "Handler", "private", "public"]

log = logging.getLogger("tradekit.sim")

API = "/api/v3/brokerage"
Handler = Callable[[Request], Awaitable[Response]]


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
            return error_response(400, "INVALID_ARGUMENT", str(e))
        except NotFound as e:
            return error_response(404, "NOT_FOUND", str(e))
        except ClientDisconnect:  # gone while we waited or read: nobody reads the answer
            log.info("499 %s %s: the client closed the request", request.method, request.url.path)
            return error_response(499, "CANCELLED", "the client closed the request")
        except TooLarge:
            return error_response(
                413, "PAYLOAD_TOO_LARGE", f"the request body is over {MAX_BODY} bytes"
            )

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
            return error_response(429, "RATE_LIMIT_EXCEEDED", "Too many requests", headers)
        faults = state.faults
        if faults.only is not None and not _matches(faults.only, request):
            response = await inner(request)
            response.headers.update(headers)
            return response
        struck = state.faults_injected
        if faults.rest_delay_s > 0:
            struck["rest_delay_s"] += 1
            await asyncio.sleep(faults.rest_delay_s)
        rng = state.rng
        if faults.rest_429_rate > 0 and rng.random() < faults.rest_429_rate:
            struck["rest_429_rate"] += 1
            spent = {**headers, "x-ratelimit-remaining": "0"}
            return error_response(429, "RATE_LIMIT_EXCEEDED", "Too many requests", spent)
        if faults.rest_error_rate > 0 and rng.random() < faults.rest_error_rate:
            struck["rest_error_rate"] += 1
            return error_response(
                500, "INTERNAL", "simulated server error (fault injection)", headers
            )
        if faults.timeout_rate > 0 and rng.random() < faults.timeout_rate:
            struck["timeout_rate"] += 1
            await asyncio.sleep(faults.timeout_s)
            return error_response(
                504, "DEADLINE_EXCEEDED", "simulated timeout (fault injection)", headers
            )
        lose = faults.lose_reply_rate > 0 and rng.random() < faults.lose_reply_rate
        response = await inner(request)
        if lose:
            struck["lose_reply_rate"] += 1
            return error_response(
                503, "UNAVAILABLE", "simulated lost reply (fault injection)", headers
            )
        response.headers.update(headers)
        return response

    return endpoint


def public(state: SimState, limiter: RateLimiter, handler: Handler) -> Handler:
    """No authentication (a token, if sent, is ignored); rate-limited per client IP."""
    inner = _guard(handler)

    async def endpoint(request: Request) -> Response:
        allowed, headers = limiter.take(f"ip:{_client_ip(request)}", state.public_rate_limit_per_s)
        if not allowed:
            return error_response(429, "RATE_LIMIT_EXCEEDED", "Too many requests", headers)
        response = await inner(request)
        response.headers.update(headers)
        return response

    return endpoint
