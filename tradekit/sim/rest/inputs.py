"""Reading requests: the JSON body (size-capped, strict) and query parameters.

Bodies go on to `models.parse`; query parameters are read through `Query`, which
refuses names an endpoint does not know and repeated single values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NoReturn

from starlette.requests import Request

from tradekit.sim.rest.errors import BadRequest, TooLarge, bad

MAX_BODY = 64 * 1024  # bytes: a bigger request body gets 413
_DRAIN = 1024 * 1024  # read (and drop) this much of an oversized body before answering


async def read_json(request: Request) -> Any:
    """The body as JSON: refuses >64 KiB, duplicate keys, NaN and malformed text."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            bad("Content-Length is not a number")
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
        bad("the request body is empty: expected a JSON object")
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
        bad(f"the request body is not valid JSON ({type(e).__name__})")


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
    bad(f"{name} is not allowed in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            bad(f"{key}: given twice")
        out[key] = value
    return out


class Query:
    """Query parameters: unknown names refused, repeated names are lists."""

    def __init__(self, request: Request, allowed: Iterable[str]) -> None:
        self.params = request.query_params
        allowed = frozenset(allowed)
        for name in self.params:
            if name not in allowed:
                bad(f"{name}: unknown query parameter")

    def many(self, name: str) -> list[str]:
        return [v for v in self.params.getlist(name) if v != ""]

    def one(self, name: str) -> str | None:
        values = self.many(name)
        if len(values) > 1:
            bad(f"{name}: given {len(values)} times")
        return values[0] if values else None

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        text = self.one(name)
        if text is None:
            return default
        try:
            value = int(text)
        except ValueError:
            bad(f"{name}: {text[:40]!r} is not an integer")
        if value < lo:
            bad(f"{name}: {value} is below {lo}")
        return min(value, hi)

    def cursor(self) -> int | None:
        text = self.one("cursor")
        if text is None:
            return None
        if not text.isdigit() or len(text) > 18:
            bad(f"cursor: {text[:40]!r} is not a cursor this server gave")
        return int(text)


async def read_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (`read_json`, then anything but an object refused)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        bad(f"body: expected a JSON object, got {type(body).__name__}")
    return body
