"""The hand-written difference between the async source and its sync twin (async side).

`tools/gen_sync.py` rewrites imports of this module to `.._sync._compat`, whose names are
the same with blocking implementations. Nothing else may differ by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import websockets.asyncio.client

from tradekit.exchange.coinbase.common import (
    KEEPALIVE_EXPIRY_S,
    MAX_CONNECTIONS,
    Reply,
    TransportFailed,
    certificate_refused,
)

sleep = asyncio.sleep


class HttpSession:
    """The REST adapter's HTTP: aiohttp's client (a keep-alive pool, HTTP/1.1 parsed in
    C), whose CPU per request is about half of httpx's over asyncio (profiled against
    the simulator over TLS). Its session belongs to an event loop, so it is opened on
    the first request, in the loop that makes it (again if a later loop makes one)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        timeout_s: float,
        headers: dict[str, str],
        proxy: str | None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._headers = headers
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl, limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY_S
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # the API keeps none (nor the sync twin)
            )
            self._loop = loop
        return self._session

    async def request(
        self, method: str, target: str, headers: dict[str, str], content: bytes | None
    ) -> Reply:
        """One request to `target` (path and query); the whole reply, decompressed."""
        session = self._open()
        try:
            async with session.request(
                method,
                self._base_url + target,
                headers=headers,
                data=content,
                proxy=self._proxy,
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as e:
            refused = isinstance(e, aiohttp.ClientConnectorCertificateError)
            raise TransportFailed(
                type(e).__name__, certificate_refused=refused or certificate_refused(e)
            ) from e
        return Reply(resp.status, resp.headers, body)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def wait_for_message(ws: object, timeout: float) -> str | bytes:
    """One message from a websockets connection, or TimeoutError.

    `asyncio.timeout` rather than `wait_for`: no task per message on the hot path."""
    async with asyncio.timeout(timeout):
        return await ws.recv()  # type: ignore[attr-defined,no-any-return]


async def open_websocket(url: str, **options: Any) -> Any:
    """A connected websockets client connection (closed by the caller)."""
    return await websockets.asyncio.client.connect(url, **options)


CLOSE_WAIT_S = 1.0  # at most this long draining a closing connection


async def close_websocket(ws: Any) -> None:
    """Close a websockets connection without waiting out a paused reader.

    The asyncio client stops reading from the socket while its queue of received
    messages is full (a feed that stopped reading: a reconnect, a close), so it never
    saw the server's close frame and the handshake took the whole close_timeout (10 s:
    every stop of a run on a busy market). So this drops what is still queued (the
    caller is done with it) while the handshake runs, which lets the reader reach the
    close frame; after CLOSE_WAIT_S the connection is cut.
    """
    loop = asyncio.get_running_loop()
    closing = asyncio.ensure_future(ws.close())
    deadline = loop.time() + CLOSE_WAIT_S
    while not closing.done() and (left := deadline - loop.time()) > 0:
        try:
            await asyncio.wait_for(ws.recv(), min(left, 0.05))
        except TimeoutError:
            continue
        except Exception:  # ConnectionClosed (the goal), or a recv already under way
            break
    if not closing.done():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(closing), max(0.0, deadline - loop.time()))
    if not closing.done():
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()  # the server did not answer in time: cut it
    with contextlib.suppress(Exception):
        await closing


class Job:
    """Work that runs beside the caller (the feed's resync, off the reader): an asyncio
    task here, a thread on the sync side. `result()` once `done()`: its value or error."""

    def __init__(self, work: Callable[[], Awaitable[Any]]) -> None:
        self._task = asyncio.ensure_future(work())

    def done(self) -> bool:
        return self._task.done()

    def result(self) -> Any:
        return self._task.result()

    def cancel(self) -> None:
        self._task.cancel()
