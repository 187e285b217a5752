"""The hand-written difference between the async source and its sync twin (sync side).

Same names as `.._async._compat`, blocking implementations.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import httpx
import websockets.sync.client

HttpClient = httpx.Client
sleep = time.sleep


def wait_for_message(ws: object, timeout: float) -> str | bytes:
    """One message from a websockets connection, or TimeoutError."""
    return ws.recv(timeout=timeout)  # type: ignore[attr-defined,no-any-return]


# websockets >= 17.1 wants `legacy=True` to connect outside a `with` block.
_DIRECT: dict[str, Any] = (
    {"legacy": True}
    if "legacy" in inspect.signature(websockets.sync.client.connect).parameters
    else {}
)


def open_websocket(url: str, **options: Any) -> Any:
    """A connected websockets client connection (closed by the caller)."""
    connect: Any = websockets.sync.client.connect
    return connect(url, **_DIRECT, **options)
