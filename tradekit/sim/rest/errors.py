"""Coinbase's error shape, `{"error", "error_details", "message"}`, and the exceptions
that the handlers raise to get it (400, 404, 413)."""

from __future__ import annotations

from typing import NoReturn

from starlette.responses import JSONResponse, Response

__all__ = ["BadRequest", "NotFound", "TooLarge", "bad", "error_response"]


class BadRequest(Exception):
    """A malformed request: 400 INVALID_ARGUMENT with this message."""


class NotFound(Exception):
    """The order or product named in the path does not exist: 404 NOT_FOUND."""


class TooLarge(Exception):
    """The body is over MAX_BODY: 413."""


def error_response(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(
        {"error": error, "error_details": message, "message": message}, status, headers
    )


def bad(message: str) -> NoReturn:
    raise BadRequest(message)
