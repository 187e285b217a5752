"""The hand-written difference between the async source and its sync twin (async side).

`tools/gen_sync.py` rewrites imports of this module to `.._sync._compat`, whose names are
the same with blocking implementations. Nothing else may differ by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpcore
import websockets.asyncio.client

from tradekit.exchange.coinbase.asyncio_network import AsyncioBackend

sleep = asyncio.sleep


def connection_pool(**options: Any) -> httpcore.AsyncConnectionPool:
    """httpcore's connection pool on asyncio's own streams (`asyncio_network`: its
    default anyio backend costs the REST adapter more CPU than the HTTP work)."""
    return httpcore.AsyncConnectionPool(network_backend=AsyncioBackend(), **options)


async def wait_for_message(ws: object, timeout: float) -> str | bytes:
    """One message from a websockets connection, or TimeoutError.

    `asyncio.timeout` rather than `wait_for`: no task per message on the hot path."""
    async with asyncio.timeout(timeout):
        return await ws.recv()  # type: ignore[attr-defined,no-any-return]


async def open_websocket(url: str, **options: Any) -> Any:
    """A connected websockets client connection (closed by the caller)."""
    return await websockets.asyncio.client.connect(url, **options)


async def close_websocket(ws: Any) -> None:
    """Close a websockets connection (the close handshake, bounded by its close_timeout)."""
    await ws.close()
