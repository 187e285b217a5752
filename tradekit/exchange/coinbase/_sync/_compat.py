"""The hand-written difference between the async source and its sync twin (sync side).

Same names as `.._async._compat`, blocking implementations.
"""

from __future__ import annotations

import contextlib
import inspect
import ssl
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import websockets.sync.client

from tradekit.exchange.coinbase.common import (
    KEEPALIVE_EXPIRY_S,
    MAX_CONNECTIONS,
    MAX_KEEPALIVE_CONNECTIONS,
    Reply,
    TransportFailed,
    certificate_refused,
)

sleep = time.sleep


class HttpSession:
    """The REST adapter's HTTP: httpcore's connection pool (keep-alive, HTTP/1.1 by h11),
    the engine under httpx, used directly: the adapter holds every part of a request, so
    httpx's client layer (URL parsing, cookie jar, auth and redirect flows) was only
    cost, about a third of the client's CPU per request."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        timeout_s: float,
        headers: dict[str, str],
        proxy: str | None,
    ) -> None:
        parts = urlsplit(base_url)
        self._scheme = parts.scheme.encode()
        self._hostname = (parts.hostname or "").encode()
        self._port = parts.port
        self._base_path = parts.path.rstrip("/")
        self._headers = [
            (b"Host", parts.netloc.encode()),
            *((k.encode(), v.encode()) for k, v in headers.items()),
            (b"Accept-Encoding", b"gzip"),
        ]
        self._extensions = {
            "timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout_s)
        }
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            proxy=None if proxy is None else httpcore.Proxy(proxy),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )

    def request(
        self, method: str, target: str, headers: dict[str, str], content: bytes | None
    ) -> Reply:
        """One request to `target` (path and query); the whole reply, decompressed."""
        url = httpcore.URL(
            scheme=self._scheme,
            host=self._hostname,
            port=self._port,
            target=(self._base_path + target).encode(),
        )
        sent = [*self._headers, *((k.encode(), v.encode()) for k, v in headers.items())]
        try:
            resp = self._pool.request(
                method, url, headers=sent, content=content, extensions=self._extensions
            )
        except (
            httpcore.TimeoutException,
            httpcore.NetworkError,
            httpcore.RemoteProtocolError,
        ) as e:
            raise TransportFailed(
                type(e).__name__, certificate_refused=certificate_refused(e)
            ) from e
        names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers}
        return Reply(resp.status, names, _decoded(resp.content, names.get("content-encoding")))

    def close(self) -> None:
        self._pool.close()


def _decoded(data: bytes, encoding: str | None) -> bytes:
    """The body gunzipped when the server compressed it (only gzip is asked for)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return data
    if encoding != "gzip":
        raise TransportFailed(f"the reply is encoded as {encoding[:40]!r}, not asked for")
    try:
        return zlib.decompress(data, wbits=16 + zlib.MAX_WBITS)
    except zlib.error as e:
        raise TransportFailed(f"the reply's gzip is damaged ({e})") from None


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


CLOSE_WAIT_S = 1.0  # at most this long draining a closing connection


def close_websocket(ws: Any) -> None:
    """Close a websockets connection without waiting out a stalled reader thread.

    websockets' sync `close()` waits for its reader thread to read the server's close
    frame, but that thread pauses while the queue of received messages is full (a feed
    that stopped reading: a reconnect, a close), so the handshake took the whole
    close_timeout (10 s). So the handshake runs in a helper thread while this one drops
    what is still queued (the caller is done with it), which keeps the reader reading up
    to the close frame; bounded by CLOSE_WAIT_S, after which the socket is left to the
    helper's own close_timeout.
    """
    closer = threading.Thread(target=_close_quietly, args=(ws,), name="ws-close", daemon=True)
    closer.start()
    deadline = time.monotonic() + CLOSE_WAIT_S
    while closer.is_alive():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            ws.recv(timeout=min(left, 0.05))
        except TimeoutError:
            continue
        except Exception:  # ConnectionClosed (the goal), or a recv already under way
            closer.join(max(0.0, deadline - time.monotonic()))
            return


def _close_quietly(ws: Any) -> None:
    with contextlib.suppress(Exception):  # closed either way: nothing left to report
        ws.close()


class Job:
    """Work that runs beside the caller (the feed's resync, off the reader): a daemon
    thread here, an asyncio task on the async side. `result()` once `done()`: its value
    or error. `cancel()` abandons it (a thread cannot be stopped; its answer is dropped)."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        pass
