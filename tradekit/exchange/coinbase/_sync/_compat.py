"""The hand-written difference between the async source and its sync twin (sync side).

Same names as `.._async._compat`, blocking implementations.
"""

from __future__ import annotations

import time

import httpx

HttpClient = httpx.Client
sleep = time.sleep


def wait_for_message(ws: object, timeout: float) -> str | bytes:
    """One message from a websockets connection, or TimeoutError."""
    return ws.recv(timeout=timeout)  # type: ignore[attr-defined,no-any-return]
